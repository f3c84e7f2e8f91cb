"""The report of a leave-source-out run (crossval.py): ``meta_learner/reports/<media>/<version>.md`` + ``.json``.

It leads with out-of-fold figures on the whole corpus, for the deployed stacker, the gateway's voting
and averaging and every detector alone, with issue #12's targets beside them; then per generator
family, the learned weights, each detector taken away, the candidates, and per source accuracy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from meta_learner.crossval import CrossValResult, MethodResult
from meta_learner.metrics import paired_difference
from meta_learner.report import write_report_files


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def headline(result: CrossValResult) -> dict[str, Any]:
    """Stacking against the best single detector and every fusion baseline (voting, averaging), in
    out-of-fold log-loss."""
    singles = [m for m in result.methods if m.kind == "detector"]
    fusions = [m.name for m in result.methods if m.kind == "fusion"]
    best_single = min(singles, key=lambda m: m.oof.log_loss)
    stacking = result.stacking.oof.log_loss
    versus = {}
    for name in (best_single.name, *fusions):
        delta, half = paired_difference(
            result.oof_labels, result.oof_scores["stacking"], result.oof_scores[name]
        )
        other = result.method(name).oof.log_loss
        versus[name] = {
            "log_loss": other,
            "stacking_minus_this": delta,
            "ci95_half_width": half,
            "stacking_at_least_as_good": stacking <= other,
        }
    return {
        "evaluation": "leave-source-out, out-of-fold",
        "stacking_log_loss": stacking,
        "best_single_detector": best_single.name,
        "versus": versus,
        "stacking_at_least_as_good_as_all": all(v["stacking_at_least_as_good"] for v in versus.values()),
        "targets_met": all(c.met for c in result.checks),
    }


def _method_row(m: MethodResult, label: str) -> str:
    o = m.oof
    return (
        f"| {label} | {_fmt(o.roc_auc)} | {_fmt(o.ece)} | {_fmt(o.log_loss)} | {_fmt(o.accuracy)} | "
        f"{m.coverage:.0%} | {m.note} |"
    )


def render_markdown(result: CrossValResult, version: str, context: dict[str, Any]) -> str:
    """The human report. ``context`` carries what the run knew beyond training (manifest, detectors)."""
    media = result.spec.media_type
    t = result.targets
    n_sources = len(result.sources)
    answers = ", ".join(f"{name}: {origin}" for name, origin in result.answers.items())
    lines = [
        f"# Meta-learner {media}/{version}",
        "",
        f"Leave-source-out on the imported corpus: {result.images} images from {n_sources} sources in "
        f"{len(result.folds)} folds, every source in one fold. Every figure below is **out-of-fold**: each "
        "image is scored by a stacker fitted on the other folds (detector dropout "
        f"{result.config.dropout_rate:g} x {result.config.dropout_copies} copies on them) and calibrated by a "
        "calibration fitted on the other folds' out-of-fold scores. The detectors' own answers: "
        f"{answers} (out-of-fold: from a detector model trained without the image's fold; live: asked now, "
        "for detectors without training on this corpus).",
        "",
        f"Deployed: **{result.winner}** `{json.dumps(result.params)}` + **{result.calibrator.method}** "
        "calibration, fitted on every image.",
        "",
        "## Targets (issue #12), out-of-fold",
        "",
        "| target | stacking | met | detail |",
        "|---|---|---|---|",
    ]
    for check in result.checks:
        lines.append(
            f"| {check.target} | {_fmt(check.value)} | {'yes' if check.met else '**no**'} | {check.detail} |"
        )
    lines += [
        "",
        "## Every method, out-of-fold on the corpus",
        "",
        "Coverage: share of images the method gave a score for (the rest count as 0.5).",
        "",
        f"| method | ROC-AUC (target >= {t.roc_auc:.2f}) | ECE (target <= {t.ece:.2f}) | log-loss | "
        "accuracy @0.5 | coverage | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in result.methods:
        lines.append(_method_row(m, "**stacking (deployed)**" if m.kind == "stacking" else m.name))
    head = headline(result)
    lines += ["", "Stacking against the others, out-of-fold log-loss (paired over images):", ""]
    lines += ["| compared with | its log-loss | stacking - it (95% CI) | stacking at least as good |"]
    lines += ["|---|---|---|---|"]
    for name, c in head["versus"].items():
        label = f"{name} (best single detector)" if name == head["best_single_detector"] else name
        lines.append(
            f"| {label} | {c['log_loss']:.4f} | {c['stacking_minus_this']:+.4f} ± {c['ci95_half_width']:.4f} | "
            f"{'yes' if c['stacking_at_least_as_good'] else '**no**'} |"
        )

    columns = [m for m in result.methods]
    lines += [
        "",
        "## Per generator family, out-of-fold",
        "",
        f"ROC-AUC of each family's images against every real image. Target: >= {t.family_roc_auc:.2f} for "
        f"every family with at least {t.family_min_images} images; smaller families are shown, not judged; "
        "a judged family below the target is in bold.",
        "",
        "| family | images | sources | " + " | ".join(m.name for m in columns) + " |",
        "|---" * (3 + len(columns)) + "|",
    ]
    for family in result.families:
        cells = []
        for m in columns:
            value = m.oof.per_family_roc_auc.get(family.family)
            text = _fmt(value)
            if family.judged and value is not None and value < t.family_roc_auc:
                text = f"**{text}**"
            cells.append(text)
        name = family.family if family.judged else f"{family.family} (few)"
        lines.append(f"| {name} | {family.images} | {family.sources} | " + " | ".join(cells) + " |")

    lines += ["", "## Learned weight of each detector", "", result.weights_note or "No weights to show.", ""]
    has_coef = any(w.coefficient is not None for w in result.weights)
    has_imp = any(w.importance is not None for w in result.weights)
    header = ["feature"]
    header += ["coefficient per SD", "coefficient per unit"] if has_coef else []
    header += ["importance"] if has_imp else []
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for w in result.weights:
        cells = [f"`{w.feature}`"]
        cells += [_fmt(w.coefficient_per_sd), _fmt(w.coefficient)] if has_coef else []
        cells += [_fmt(w.importance)] if has_imp else []
        lines.append("| " + " | ".join(cells) + " |")

    full = result.stacking.oof.log_loss
    lines += [
        "",
        "## Does each detector earn its place?",
        "",
        f"The deployed candidate refitted out-of-fold with the detector taken away from every image (stacking "
        f"with all detectors: log-loss {full:.4f}). It earns its place when taking it away raises the log-loss "
        "by more than the 95% paired interval.",
        "",
        "| without | images it answered | stacking log-loss | change (95% CI) | stacking ROC-AUC | "
        "average log-loss | earns its place |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in result.without:
        lines.append(
            f"| {w.detector} | {w.answered} | {w.stacking_log_loss:.4f} | {w.delta_log_loss:+.4f} ± "
            f"{w.ci95_half_width:.4f} | {_fmt(w.stacking_roc_auc)} | {w.average_log_loss:.4f} | {w.verdict} |"
        )
    silent = [d for d in result.spec.detectors if d not in {w.detector for w in result.without}]
    if silent:
        lines += [
            "",
            f"Never answered on the corpus (nothing to take away): {', '.join(silent)}. The model has no weight "
            "for it; the deployed artifact adds its log-odds to the stacked score as independent evidence "
            "whenever it does answer (`independent_evidence` in the manifest).",
        ]

    lines += [
        "",
        "## Candidates (out-of-fold, calibrated by cross-fitting)",
        "",
        f"Chosen: {result.selection}. The stacking figures above are the chosen candidate's; picking it "
        f"among {sum(c.oof is not None for c in result.candidates)} candidates on these same folds flatters "
        "them a little (no nested cross-validation).",
        "",
        "| classifier | complexity | best parameters | raw log-loss | calibration | log-loss | ROC-AUC | ECE "
        "| within 1 SE | tried | seconds | error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(result.candidates, key=lambda c: c.oof.log_loss if c.oof else math.inf)
    for c in ordered:
        o = c.oof
        mark = "**" if c.name == result.winner else ""
        lines.append(
            f"| {mark}{c.name}{mark} | {c.complexity} | `{json.dumps(c.params)}` | {_fmt(c.raw_log_loss, 4)} | "
            f"{c.calibration or '-'} | {_fmt(o.log_loss if o else None, 4)} | {_fmt(o.roc_auc if o else None)} | "
            f"{_fmt(o.ece if o else None)} | {'-' if c.within_one_se is None else ('yes' if c.within_one_se else 'no')} "
            f"| {c.tried} | {c.seconds:.1f} | {c.error or ''} |"
        )

    lines += [
        "",
        "## Per source accuracy, out-of-fold",
        "",
        f"<details><summary>{n_sources} sources</summary>",
        "",
        "| source | label | images | fold | " + " | ".join(m.name for m in columns) + " |",
        "|---" * (4 + len(columns)) + "|",
    ]
    for s in result.sources:
        cells = [_fmt(m.oof.per_source_accuracy.get(s.source), 2) for m in columns]
        lines.append(f"| {s.source} | {s.label} | {s.images} | {s.fold} | " + " | ".join(cells) + " |")
    lines += ["", "</details>", "", "## Folds", "", "| fold | images | real | AI | sources |"]
    lines += ["|---|---|---|---|---|"]
    for f in result.folds:
        lines.append(f"| {f.fold} | {f.images} | {f.real} | {f.fake} | {len(f.sources)} |")
    lines += ["", "## Run", ""]
    for key, value in context.items():
        lines.append(f"- {key}: {value if isinstance(value, str) else json.dumps(value)}")
    lines.append(f"- training time: {result.seconds:.1f} s")
    return "\n".join(lines) + "\n"


def write_report(
    reports_dir: Path, version: str, result: CrossValResult, context: dict[str, Any]
) -> tuple[Path, Path]:
    """Write the markdown and JSON report; returns their paths."""
    payload = {
        "version": version,
        "evaluation": "leave-source-out",
        "headline": headline(result),
        "result": result.model_dump(mode="json"),
        "context": context,
    }
    return write_report_files(
        reports_dir / result.spec.media_type, version, render_markdown(result, version, context), payload
    )
