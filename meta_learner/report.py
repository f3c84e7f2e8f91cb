"""The report of one training run: ``meta_learner/reports/<media>/<version>.md`` and ``.json``.

Every method is scored on the same test rows: the deployed (calibrated) stacker, every candidate
classifier (uncalibrated, refitted on the fit rows), the gateway's voting and averaging, and each
detector alone. The headline compares stacking with the best of the others in log-loss, with a paired
95% interval so a difference within noise is called that.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from meta_learner.metrics import Metrics, paired_difference
from meta_learner.train import TrainResult


def headline(result: TrainResult) -> dict[str, Any]:
    """Stacking against the best single detector and every fusion baseline (voting, averaging), in test
    log-loss."""
    baselines = {b.name: b for b in result.baselines}
    singles = [b for b in result.baselines if b.name in result.spec.detectors]
    fusions = [b.name for b in result.baselines if b.name not in result.spec.detectors]
    best_single = min(singles, key=lambda b: b.test.log_loss)
    comparisons = {}
    for name in (best_single.name, *fusions):
        delta, half = paired_difference(
            result.test_labels, result.test_scores["stacking"], result.test_scores[name]
        )
        comparisons[name] = {
            "log_loss": baselines[name].test.log_loss,
            "stacking_minus_this": delta,
            "ci95_half_width": half,
            "stacking_at_least_as_good": result.stacking_test.log_loss <= baselines[name].test.log_loss,
        }
    return {
        "stacking_log_loss": result.stacking_test.log_loss,
        "best_single_detector": best_single.name,
        "versus": comparisons,
        "stacking_at_least_as_good_as_all": all(c["stacking_at_least_as_good"] for c in comparisons.values()),
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _metrics_row(name: str, m: Metrics, coverage: float | None = None, note: str = "") -> str:
    cov = "-" if coverage is None else f"{coverage:.0%}"
    return f"| {name} | {_fmt(m.roc_auc)} | {_fmt(m.accuracy)} | {_fmt(m.log_loss)} | {_fmt(m.ece)} | {cov} | {note} |"


def render_markdown(result: TrainResult, version: str, context: dict[str, Any]) -> str:
    """The human report. ``context`` carries what the run knew beyond training (detectors, timings)."""
    media = result.spec.media_type
    head = headline(result)
    lines = [
        f"# Meta-learner {media}/{version}",
        "",
        f"Winner: **{result.winner}** {json.dumps(result.params)}, calibrated with "
        f"**{result.calibrator.method}**. Fitted on the {' + '.join(result.config.fit_splits)} split(s) "
        f"({sum(result.rows[s] for s in result.config.fit_splits)} files) with {result.config.folds}-fold "
        f"grouped cross-validation ({result.config.optimizer}"
        + (f", {result.config.trials} trials" if result.config.optimizer == "optuna" else "")
        + f"), detector dropout {result.config.dropout_rate:g} x {result.config.dropout_copies} copies; "
        f"scored on {result.rows['test']} test files.",
        "",
        "## Headline (test log-loss, lower is better)",
        "",
        f"Stacking: **{head['stacking_log_loss']:.4f}**.",
        "",
        "| compared with | its log-loss | stacking - it (95% paired CI) | stacking at least as good |",
        "|---|---|---|---|",
    ]
    for name, c in head["versus"].items():
        label = f"{name} (best single detector)" if name == head["best_single_detector"] else name
        lines.append(
            f"| {label} | {c['log_loss']:.4f} | {c['stacking_minus_this']:+.4f} ± {c['ci95_half_width']:.4f} | "
            f"{'yes' if c['stacking_at_least_as_good'] else '**no**'} |"
        )
    lines += ["", _verdict_sentence(head), ""]

    lines += [
        "## Every method on the test split",
        "",
        "Coverage: share of test files the method gave a score for (the rest count as 0.5).",
        "",
        "| method | ROC-AUC | accuracy | log-loss | ECE | coverage | note |",
        "|---|---|---|---|---|---|---|",
        _metrics_row(
            "**stacking (deployed)**",
            result.stacking_test,
            1.0,
            f"{result.winner} + {result.calibrator.method}",
        ),
    ]
    for c in result.candidates:
        if c.test is not None:
            lines.append(_metrics_row(c.name, c.test, 1.0, "candidate, uncalibrated"))
    for b in result.baselines:
        note = "single detector" if b.name in result.spec.detectors else "gateway fusion"
        lines.append(_metrics_row(b.name, b.test, b.coverage, note))

    lines += ["", "## Per-source accuracy (test)", ""]
    columns = [("stacking", result.stacking_test)] + [(b.name, b.test) for b in result.baselines]
    sources = sorted(result.stacking_test.per_source_accuracy)
    lines.append("| source | " + " | ".join(name for name, _ in columns) + " |")
    lines.append("|---" * (len(columns) + 1) + "|")
    for source in sources:
        cells = [_fmt(m.per_source_accuracy.get(source), 2) for _, m in columns]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Selection (out-of-fold on the fit rows)",
        "",
        "| classifier | best parameters | cv log-loss | cv ROC-AUC | tried | seconds | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in sorted(
        result.candidates, key=lambda c: c.cv_log_loss if c.cv_log_loss is not None else math.inf
    ):
        lines.append(
            f"| {c.name} | `{json.dumps(c.params)}` | {_fmt(c.cv_log_loss, 4)} | {_fmt(c.cv_roc_auc)} | {c.tried} "
            f"| {c.seconds:.1f} | {c.error or ''} |"
        )
    cal = ", ".join(f"{k} {v:.4f}" for k, v in result.calibration_cv_log_loss.items())
    lines += [
        "",
        f"Calibration (inner cross-validated log-loss of the winner's out-of-fold scores): {cal}; "
        f"chosen: {result.calibrator.method}. Calibrated out-of-fold log-loss: {result.stacking_val_cv_log_loss:.4f}.",
        "",
        "## A detector missing from every test file",
        "",
        "| missing detector | stacking log-loss | average log-loss |",
        "|---|---|---|",
    ]
    for m in result.missing_detector:
        lines.append(f"| {m.detector} | {m.stacking_log_loss:.4f} | {m.average_log_loss:.4f} |")
    lines += [
        "",
        "## Detector log-loss per split (over the files each one scored)",
        "",
        "Much lower on train than on val/test means the detector learned the train split: its train scores "
        "would teach the stacker to over-trust it, which is why the stacker is fitted on "
        f"{' + '.join(result.config.fit_splits)}.",
        "",
        "| detector | train | val | test |",
        "|---|---|---|---|",
    ]
    for name, per_split in result.detector_log_loss_by_split.items():
        lines.append(
            f"| {name} | " + " | ".join(_fmt(per_split.get(s)) for s in ("train", "val", "test")) + " |"
        )
    lines += ["", "## Run", ""]
    lines.append(f"- rows per split: {result.rows}")
    for key, value in context.items():
        lines.append(f"- {key}: {value if isinstance(value, str) else json.dumps(value)}")
    lines.append(f"- training time: {result.seconds:.1f} s")
    return "\n".join(lines) + "\n"


def _verdict_sentence(head: dict[str, Any]) -> str:
    if head["stacking_at_least_as_good_as_all"]:
        return "Stacking is at least as good as the best single detector and both simple fusions in test log-loss."
    worse = [n for n, c in head["versus"].items() if not c["stacking_at_least_as_good"]]
    within = [
        n
        for n in worse
        if abs(head["versus"][n]["stacking_minus_this"]) <= head["versus"][n]["ci95_half_width"]
    ]
    text = f"Stacking has a higher test log-loss than {', '.join(worse)}."
    if within and len(within) == len(worse):
        text += " The difference is within the 95% paired interval: on this many test files it is noise."
    else:
        text += (
            " The stacker is fitted on the validation split only (the detectors learned the train split), "
            "so it learns from few files; see the selection table and the per-split detector log-loss."
        )
    return text


def write_report(
    reports_dir: Path, version: str, result: TrainResult, context: dict[str, Any]
) -> tuple[Path, Path]:
    """Write the markdown and JSON report; returns their paths."""
    payload = {
        "version": version,
        "headline": headline(result),
        "result": result.model_dump(mode="json"),
        "context": context,
    }
    return write_report_files(
        reports_dir / result.spec.media_type, version, render_markdown(result, version, context), payload
    )


def write_report_files(
    directory: Path, version: str, markdown: str, payload: dict[str, Any]
) -> tuple[Path, Path]:
    """``<version>.md`` and ``<version>.json`` in ``directory``, each replaced atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    md_path, json_path = directory / f"{version}.md", directory / f"{version}.json"
    for path, text in ((md_path, markdown), (json_path, json.dumps(payload, indent=2) + "\n")):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return md_path, json_path
