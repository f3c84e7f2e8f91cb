"""Suite ``quality``: the leave-source-out detection figures, gathered into docs/benchmarks.md.

Nothing is measured here: the figures come from the committed artifacts that measured them (each
image detector's ``weights/metrics.json`` and the deployed meta-learner's report), so the benchmark
page and the model cards can never disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from meta_learner import artifacts, paths
from tribunal_home import REPO_ROOT

IMAGE_DETECTORS = ("clip_universal", "attribution_cnn", "fft_spectral")


def _oof(name: str) -> dict | None:
    path = REPO_ROOT / "detectors" / name / "weights" / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics.get("out_of_fold") or metrics.get("oof")


def _section(markdown: str, heading: str) -> str:
    """The body of one ``## heading`` section of a report."""
    match = re.search(rf"^## {re.escape(heading)}.*?\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    return match.group(1).strip() if match else f"(no '{heading}' section in the report)"


def run() -> str:
    rows = []
    for name in IMAGE_DETECTORS:
        oof = _oof(name)
        if oof:
            rows.append(
                f"| {name} | {oof['n']} | {oof['roc_auc']:.3f} | {oof['ece']:.3f} | {oof['log_loss']:.3f} |"
            )
    parts = [
        "Leave-source-out on the imported corpus (`make benchmark CORPUS=../shared/corpus/manifest.csv`): "
        "five folds, every image of a source repository in one fold, each image scored by a model that never "
        "saw its source. Issue-12 targets: fused ROC-AUC >= 0.90, every family with >= 20 images >= 0.80, "
        "ECE <= 0.05. These figures overstate images from unseen sources (about 0.10-0.15 ROC-AUC in an "
        "earlier trial).",
        "### Each image detector (from its `weights/metrics.json`)",
        "| detector | images | ROC-AUC | ECE | log-loss |\n|---|---|---|---|---|\n" + "\n".join(rows),
    ]
    version = artifacts.deployed_version(paths.ARTIFACTS_DIR, "image")
    report = paths.REPORTS_DIR / "image" / f"{version}.md" if version else None
    if report and report.is_file():
        text = report.read_text()
        shown = Path(report).relative_to(REPO_ROOT)
        parts += [
            f"### Fusion, out-of-fold (from `{shown}`, written by `make retrain MEDIA_TYPE=image`)",
            _section(text, "Every method"),
            "### Per generator family, out-of-fold",
            _section(text, "Per generator family"),
        ]
    else:
        parts.append("No image meta-learner is deployed: run `make retrain MEDIA_TYPE=image`.")
    return "\n\n".join(parts)
