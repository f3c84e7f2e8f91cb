"""The figures every method is compared on: ROC-AUC, accuracy, log-loss, ECE, per-source accuracy and,
on an imported corpus, per generator family ROC-AUC (the family's images against every real one)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

# Probabilities are clipped to [ε, 1 - ε] before log-loss, for every method alike: a hard 0/1 score
# (a unanimous vote) that is wrong costs log(1/ε) ≈ 9.2 nats instead of infinity.
LOG_LOSS_EPS = 1e-4
ECE_BINS = 10


class Metrics(BaseModel):
    """One method's figures on one set of rows."""

    n: int
    roc_auc: float | None  # None when the rows hold one class only
    accuracy: float
    log_loss: float
    ece: float
    per_source_accuracy: dict[str, float] = {}
    per_family_roc_auc: dict[str, float | None] = {}  # family -> ROC-AUC of its images vs all real rows


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> float:
    """Σ over equal-width bins of P(fake) of (share of rows) * |mean predicted - observed fake rate|."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    index = np.minimum((probs * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(probs[mask].mean() - labels[mask].mean())
    return float(total)


def roc_auc(labels: np.ndarray, probs: np.ndarray) -> float | None:
    if len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs))


def per_family_roc_auc(
    labels: np.ndarray, probs: np.ndarray, families: Sequence[str]
) -> dict[str, float | None]:
    """Per generator family of the fake rows: ROC-AUC of that family's rows against every real row."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    names = np.asarray(families)
    real = labels == 0
    out: dict[str, float | None] = {}
    for family in sorted(set(names[labels == 1].tolist())):
        rows = real | ((names == family) & (labels == 1))
        out[family] = roc_auc(labels[rows], probs[rows])
    return out


def evaluate(
    labels: np.ndarray,
    probs: np.ndarray,
    sources: Sequence[str] | None = None,
    threshold: float = 0.5,
    families: Sequence[str] | None = None,
) -> Metrics:
    """All figures of ``probs`` (P(fake)) against 0/1 ``labels``.

    Accuracy calls fake above ``threshold`` and real below it; a score exactly at the threshold (an
    abstention scored 0.5, a tied vote) is "uncertain" as in the gateway, and never counts as right.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    correct = ((probs > threshold) & (labels == 1)) | ((probs < threshold) & (labels == 0))
    per_source: dict[str, float] = {}
    if sources is not None:
        names = np.asarray(sources)
        for source in sorted(set(sources)):
            per_source[source] = float(correct[names == source].mean())
    return Metrics(
        n=len(labels),
        roc_auc=roc_auc(labels, probs),
        accuracy=float(correct.mean()),
        log_loss=log_loss(labels, probs),
        ece=expected_calibration_error(labels, probs),
        per_source_accuracy=per_source,
        per_family_roc_auc={} if families is None else per_family_roc_auc(labels, probs, families),
    )


def row_losses(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each row's log-loss (clipped as in ``log_loss``)."""
    p = np.clip(np.asarray(scores, dtype=np.float64), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    y = np.asarray(labels, dtype=np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def paired_difference(
    labels: Sequence[int] | np.ndarray, a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """Mean per-row log-loss of ``a`` minus ``b`` and the half-width of its 95% normal interval."""
    diff = row_losses(labels, a) - row_losses(labels, b)
    half = 1.96 * float(diff.std(ddof=1)) / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return float(diff.mean()), half
