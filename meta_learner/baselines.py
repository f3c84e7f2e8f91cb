"""What stacking is measured against: the gateway's own voting and averaging, and each detector alone.

The fusions run through ``gateway.fusion`` itself, so the baseline is exactly what a client gets
from ``ensemble_method=voting|average``. A row with no usable score (every detector abstained or
failed; for one detector: it abstained) scores 0.5, as "uncertain" would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gateway.fusion import FusionContext, Vote, get_strategy
from meta_learner.features import Observation

NO_SCORE = 0.5


def fused_scores(
    method: str, observations: Sequence[Observation], media_type: str, weights: Mapping[str, float]
) -> np.ndarray:
    """P(fake) per row from the gateway strategy ``method`` over the rows' usable answers."""
    strategy = get_strategy(method)
    ctx = FusionContext(media_type=media_type, threshold=0.5, uncertainty_band=0.0)
    scores = []
    for observation in observations:
        votes = [Vote(name, a.prob_fake, weights.get(name, 1.0)) for name, a in observation.items()]
        result = strategy.run(votes, ctx)
        scores.append(NO_SCORE if result.score_fake is None else result.score_fake)
    return np.asarray(scores, dtype=np.float64)


def single_scores(detector: str, observations: Sequence[Observation]) -> tuple[np.ndarray, float]:
    """The detector's own P(fake) per row (0.5 where it gave none) and the share of rows it scored."""
    scores = [o[detector].prob_fake if detector in o else NO_SCORE for o in observations]
    coverage = sum(detector in o for o in observations) / max(len(observations), 1)
    return np.asarray(scores, dtype=np.float64), coverage
