"""Choosing among candidate heads: the most regularised one that out-of-fold figures cannot tell apart
from the best (the one-standard-error rule, with the error measured over sources).

Leave-source-out ROC-AUC differences of a few thousandths between L2 strengths are noise: a bootstrap
over the corpus's sources puts the standard error of such a difference at 0.002-0.02. And the corpus
overstates unseen images (DATA.md: by 0.10-0.15), so the strongest fit to it is not the safest bet:
on the held-out package images (``make bench --suite unseen``) the more regularised probes generalised
better (ROC-AUC 0.865 at the out-of-fold winner's C = 0.03, 0.889 at C = 0.001). The rule, applied by
the trainers of clip_universal and attribution_cnn:

1. the best candidate is the one with the highest out-of-fold ROC-AUC;
2. for every other candidate, the paired difference to the best is bootstrapped by resampling whole
   sources (a source is the unit the folds keep together); it is within reach when its mean difference
   is at most one standard error of that difference;
3. of the candidates within reach, the simplest wins (the caller says what simpler means: a lower C),
   ties going to the higher ROC-AUC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from sklearn.metrics import roc_auc_score

T = TypeVar("T")
BOOTSTRAP_ROUNDS = 200


@dataclass(frozen=True)
class Reach(Generic[T]):
    """One candidate against the best: mean ROC-AUC shortfall and its standard error over sources."""

    candidate: T
    roc_auc: float
    shortfall: float
    se: float

    @property
    def within_one_se(self) -> bool:
        return self.shortfall <= self.se


def source_bootstraps(
    y: np.ndarray, sources: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> list[np.ndarray]:
    """Row indices of ``rounds`` resamples of whole sources (resamples holding one class only are skipped)."""
    names = np.unique(sources)
    rows = {s: np.flatnonzero(sources == s) for s in names}
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        idx = np.concatenate([rows[s] for s in rng.choice(names, len(names))])
        if len(np.unique(y[idx])) == 2:
            out.append(idx)
    return out


def one_se_choice(
    candidates: Sequence[T],
    y: np.ndarray,
    sources: np.ndarray,
    score: Callable[[T], np.ndarray],
    simpler: Callable[[T], float],
    seed: int = 0,
) -> tuple[T, list[Reach[T]]]:
    """The chosen candidate and every candidate's reach (see the module doc). ``score`` gives a
    candidate's out-of-fold scores (higher = more likely AI), ``simpler`` a key that is larger for a
    simpler candidate (e.g. ``-C``)."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    all_scores = [score(c) for c in candidates]
    aucs = [float(roc_auc_score(y, s)) for s in all_scores]
    best_index = int(np.argmax(aucs))
    best, best_scores = candidates[best_index], all_scores[best_index]
    boots = source_bootstraps(y, sources, seed=seed)
    reaches = []
    for cand, auc, scores in zip(candidates, aucs, all_scores, strict=True):
        if cand is best:
            reaches.append(Reach(cand, auc, 0.0, 0.0))
            continue
        diffs = np.array(
            [roc_auc_score(y[b], best_scores[b]) - roc_auc_score(y[b], scores[b]) for b in boots]
        )
        reaches.append(Reach(cand, auc, float(diffs.mean()), float(diffs.std(ddof=1))))
    eligible = [r for r in reaches if r.within_one_se]
    chosen = max(eligible, key=lambda r: (simpler(r.candidate), r.roc_auc))
    return chosen.candidate, reaches
