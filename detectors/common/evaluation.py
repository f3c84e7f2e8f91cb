"""Metrics every detector reports, and the degraded copies of the test split used for robustness.

Real-vs-AI figures read ``prob_fake`` against ``label``; attribution figures read class
probabilities against the class index. Everything is plain numpy / scikit-learn so the same report
comes out of any detector, and the model card prints it (``model_card.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

from detectors.common.data import center_crop, jpeg_recompress, rescale

_EPS = 1e-7

# Robustness variants of the test split (issue 4): each maps a clean test image to a degraded one.
# The centre crop keeps 75 % of each side at native resolution (256 -> 192 px on the benchmark), as
# when a user crops a picture: no resampling, but less context and a shifted pixel grid.
CENTER_CROP_FRACTION = 0.75


def _center_crop_fraction(image: Image.Image) -> Image.Image:
    return center_crop(image, round(min(image.size) * CENTER_CROP_FRACTION))


ROBUSTNESS_VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg_q65": lambda image: jpeg_recompress(image, 65),
    "resize_0.5x": lambda image: rescale(image, 0.5),
    "center_crop_0.75": _center_crop_fraction,
}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the bin-weighted gap between mean confidence and accuracy over equal-width bins."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins, with 0 falling into the first one.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(ece)


def binary_ece(y_fake: np.ndarray, prob_fake: np.ndarray, n_bins: int = 15) -> float:
    """ECE of P(fake) itself: in each bin of predicted P(fake), the gap to the observed fake rate."""
    # Reliability of the probability (not of the top label): confidence = p, "correct" = is fake.
    return expected_calibration_error(prob_fake, y_fake, n_bins)


def binary_log_loss(y_fake: np.ndarray, prob_fake: np.ndarray) -> float:
    p = np.clip(np.asarray(prob_fake, dtype=np.float64), _EPS, 1 - _EPS)
    y = np.asarray(y_fake, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def roc_auc(y_fake: np.ndarray, prob_fake: np.ndarray) -> float:
    """ROC-AUC, or NaN when only one class is present (AUC is undefined then)."""
    y = np.asarray(y_fake)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, prob_fake))


@dataclass
class BinaryReport:
    """Real-vs-AI figures at threshold 0.5."""

    n: int
    n_fake: int
    roc_auc: float
    accuracy: float
    log_loss: float
    ece: float
    per_source_accuracy: dict[str, float] = field(default_factory=dict)
    per_source_count: dict[str, int] = field(default_factory=dict)


@dataclass
class AttributionReport:
    """Which-source figures over the detector's classes."""

    classes: list[str]
    accuracy: float
    macro_f1: float
    log_loss: float
    top_label_ece: float
    per_class_f1: dict[str, float]
    per_class_support: dict[str, int]
    confusion: list[list[int]]  # rows: true class, columns: predicted class, in ``classes`` order


@dataclass
class EvaluationReport:
    """One split (or one robustness variant of it) as a model card reads it."""

    name: str
    binary: BinaryReport
    attribution: AttributionReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def headline(self) -> dict[str, float]:
        """The handful of numbers a summary table shows."""
        row = {
            "roc_auc": self.binary.roc_auc,
            "accuracy": self.binary.accuracy,
            "ece": self.binary.ece,
            "log_loss": self.binary.log_loss,
        }
        if self.attribution is not None:
            row["attribution_accuracy"] = self.attribution.accuracy
            row["macro_f1"] = self.attribution.macro_f1
        return row


def binary_report(
    y_fake: Sequence[int], prob_fake: Sequence[float], sources: Sequence[str] | None = None
) -> BinaryReport:
    """Real-vs-AI metrics; ``sources`` (e.g. generator names) adds per-source accuracy."""
    y = np.asarray(y_fake, dtype=int)
    p = np.asarray(prob_fake, dtype=np.float64)
    correct = (p >= 0.5).astype(int) == y
    per_source: dict[str, float] = {}
    counts: dict[str, int] = {}
    if sources is not None:
        src = np.asarray(sources)
        for name in sorted(set(src.tolist())):
            mask = src == name
            per_source[name] = float(correct[mask].mean())
            counts[name] = int(mask.sum())
    return BinaryReport(
        n=int(y.size),
        n_fake=int(y.sum()),
        roc_auc=roc_auc(y, p),
        accuracy=float(correct.mean()) if y.size else float("nan"),
        log_loss=binary_log_loss(y, p),
        ece=binary_ece(y, p),
        per_source_accuracy=per_source,
        per_source_count=counts,
    )


def attribution_report(
    y_index: Sequence[int], probs: np.ndarray, classes: Sequence[str]
) -> AttributionReport:
    """Multi-class metrics from an N x C probability matrix whose columns follow ``classes``."""
    y = np.asarray(y_index, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must be N x {len(classes)}, got {probs.shape}")
    pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    f1 = f1_score(y, pred, labels=labels, average=None, zero_division=0)
    support = np.bincount(y, minlength=len(classes))
    # Macro-F1 over the classes that occur in this split: a class absent from it has no F1 to average.
    present = support > 0
    p_true = np.clip(probs[np.arange(y.size), y], _EPS, 1.0)
    return AttributionReport(
        classes=list(classes),
        accuracy=float((pred == y).mean()),
        macro_f1=float(f1[present].mean()) if present.any() else float("nan"),
        log_loss=float(-np.log(p_true).mean()),
        top_label_ece=expected_calibration_error(probs.max(axis=1), pred == y),
        per_class_f1={c: float(v) for c, v in zip(classes, f1, strict=True)},
        per_class_support={c: int(n) for c, n in zip(classes, support, strict=True)},
        confusion=confusion_matrix(y, pred, labels=labels).tolist(),
    )


def evaluate(
    name: str,
    classes: Sequence[str],
    y_index: Sequence[int],
    probs: np.ndarray | None = None,
    prob_fake: Sequence[float] | None = None,
    sources: Sequence[str] | None = None,
    real_class: str = "real",
) -> EvaluationReport:
    """Full report for one split.

    An attribution detector passes ``probs`` (N x C over ``classes``) and gets ``prob_fake = 1 -
    P(real)``; a binary detector passes ``prob_fake`` and ``y_index`` over ``classes`` (real first).
    """
    y = np.asarray(y_index, dtype=int)
    real_idx = list(classes).index(real_class)
    y_fake = (y != real_idx).astype(int)
    attribution = None
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if prob_fake is None:
            prob_fake = 1.0 - probs[:, real_idx]
        attribution = attribution_report(y, probs, classes)
    if prob_fake is None:
        raise ValueError("evaluate needs probs or prob_fake")
    return EvaluationReport(name, binary_report(y_fake, prob_fake, sources), attribution)
