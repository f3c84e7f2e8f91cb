"""Writes a detector's ``weights/MODEL_CARD.md`` from the figures its training run measured.

Every number in a card comes from an ``EvaluationReport``; nothing is typed in by hand, so a card
can only say what the last ``make train-detector`` run measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detectors.common.evaluation import AttributionReport, EvaluationReport
from tribunal_home import REPO_ROOT


def shown_path(path: Path) -> str:
    """A path as a card shows it: relative to the repository when inside it (cards are committed)."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def headline_table(reports: Sequence[EvaluationReport]) -> str:
    """One row per split / variant: ROC-AUC, accuracy, ECE, log-loss (and macro-F1 if attributing)."""
    attributing = any(r.attribution is not None for r in reports)
    header = ["split", "n", "ROC-AUC (real vs AI)", "accuracy (real vs AI)", "ECE", "log-loss"]
    if attributing:
        header += ["attribution accuracy", "macro-F1"]
    rows = []
    for r in reports:
        b = r.binary
        row: list[object] = [r.name, b.n, fmt(b.roc_auc), fmt(b.accuracy), fmt(b.ece), fmt(b.log_loss)]
        if attributing:
            a = r.attribution
            row += [fmt(a.accuracy), fmt(a.macro_f1)] if a else ["n/a", "n/a"]
        rows.append(row)
    return table(header, rows)


def per_class_table(a: AttributionReport) -> str:
    rows = [[c, a.per_class_support[c], fmt(a.per_class_f1[c])] for c in a.classes]
    return table(["class", "test images", "F1"], rows)


def confusion_table(a: AttributionReport) -> str:
    header = ["true \\ predicted", *a.classes]
    rows = [[c, *counts] for c, counts in zip(a.classes, a.confusion, strict=True)]
    return table(header, rows)


def per_source_table(report: EvaluationReport) -> str:
    b = report.binary
    rows = [[s, b.per_source_count[s], fmt(b.per_source_accuracy[s])] for s in b.per_source_accuracy]
    return table(["source", "test images", "real-vs-AI accuracy"], rows)


@dataclass
class ModelCard:
    """The sections of a card; ``render()`` lays them out as Markdown."""

    title: str
    summary: str
    command: str
    data: str
    method: str
    test: EvaluationReport
    validation: EvaluationReport | None = None
    robustness: Sequence[EvaluationReport] = ()
    design_choices: str = ""
    targets: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # name -> (measured, goal)
    weights: Sequence[tuple[str, int, str]] = ()  # (file, bytes, sha256)
    training_time_s: float | None = None
    extra_sections: Sequence[tuple[str, str]] = ()  # (heading, Markdown body), after the results
    limitations: str = ""

    def render(self) -> str:
        parts = [f"# {self.title}", self.summary.strip()]
        parts += ["## How to reproduce", f"```\n{self.command}\n```"]
        if self.training_time_s is not None:
            parts.append(
                f"Training took {self.training_time_s / 60:.1f} min on this machine's CPU (2 threads)."
            )
        if self.weights:
            rows = [[f"`{f}`", f"{n / 1e6:.2f} MB", f"`{sha}`"] for f, n, sha in self.weights]
            parts += ["## Weights", table(["file", "size", "sha256"], rows)]
        parts += ["## Data", self.data.strip(), "## Method", self.method.strip()]
        if self.design_choices:
            parts += ["## Design choices (measured on the validation split)", self.design_choices.strip()]
        reports = [r for r in (self.validation, self.test) if r is not None]
        parts += ["## Results", headline_table(reports)]
        if self.targets:
            rows = [
                [name, fmt(measured), fmt(goal), "met" if measured >= goal else "**not met**"]
                for name, (measured, goal) in self.targets.items()
            ]
            parts += ["### Targets (issue 4, test split)", table(["figure", "measured", "target", ""], rows)]
        if self.test.attribution is not None:
            parts += ["### Per-class F1 (test)", per_class_table(self.test.attribution)]
            parts += [
                "### Confusion matrix (test; rows true, columns predicted)",
                confusion_table(self.test.attribution),
            ]
        if self.test.binary.per_source_accuracy:
            parts += ["### Per-source accuracy (test)", per_source_table(self.test)]
        if self.robustness:
            parts += [
                "## Robustness (the test split again, degraded)",
                "JPEG quality 65 re-encode; 0.5x bilinear resize; centre crop keeping 75 % of each side "
                "at native resolution.",
                headline_table([self.test, *self.robustness]),
            ]
        for heading, body in self.extra_sections:
            parts += [f"## {heading}", body.strip()]
        if self.limitations:
            parts += ["## Limitations", self.limitations.strip()]
        return "\n\n".join(parts) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render())
