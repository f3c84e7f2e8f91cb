"""What stacking is measured against: the fusions the caller hands in, and each detector alone.

The meta-learner does not import the gateway's fusion strategies. Whoever runs the training hands in
the fusions to compare against, by name: ``make retrain`` (scripts/retrain.py) hands in the gateway's
own voting and averaging, so each baseline is exactly what a client gets from
``ensemble_method=voting|average``. A fusion here is a plain function from one row's usable scores,
each with its registry weight, to P(fake), or None when it has nothing to fuse.

A row with no usable score (every detector abstained or failed; for one detector: it abstained)
scores 0.5, as "uncertain" would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from meta_learner.features import Observation

NO_SCORE = 0.5

# The fusion that is also scored with each detector taken away, beside stacking (the reports' "average"
# columns); every training run needs it among its fusions.
REFERENCE_FUSION = "average"


class WeightedScore(NamedTuple):
    """One detector's usable score in one row, with its registry weight."""

    detector: str
    prob_fake: float
    weight: float


# P(fake) from one row's usable scores (possibly none), or None when the fusion has nothing to fuse.
Fusion = Callable[[Sequence[WeightedScore]], float | None]


def missing_reference(fusions: Mapping[str, Fusion]) -> str | None:
    """Why ``fusions`` cannot be used for a training run, or None when they can."""
    if REFERENCE_FUSION in fusions:
        return None
    return (
        f"the baselines need a fusion named {REFERENCE_FUSION!r} (stacking is compared with it when each "
        f"detector is taken away); given: {sorted(fusions) or 'none'}"
    )


def fused_scores(
    fusion: Fusion, observations: Sequence[Observation], weights: Mapping[str, float]
) -> np.ndarray:
    """P(fake) per row from ``fusion`` over the rows' usable answers, weighted by ``weights`` (default 1)."""
    scores = []
    for observation in observations:
        votes = [WeightedScore(name, a.prob_fake, weights.get(name, 1.0)) for name, a in observation.items()]
        score = fusion(votes)
        scores.append(NO_SCORE if score is None else score)
    return np.asarray(scores, dtype=np.float64)


def single_scores(detector: str, observations: Sequence[Observation]) -> tuple[np.ndarray, float]:
    """The detector's own P(fake) per row (0.5 where it gave none) and the share of rows it scored."""
    scores = [o[detector].prob_fake if detector in o else NO_SCORE for o in observations]
    coverage = sum(detector in o for o in observations) / max(len(observations), 1)
    return np.asarray(scores, dtype=np.float64), coverage
