"""Weighted average of the detectors' calibrated probabilities."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.fusion.base import (
    FusionContext,
    FusionResult,
    FusionStrategy,
    Vote,
    distance_confidence,
    register_strategy,
    verdict_for,
)


def weighted_mean(votes: Sequence[Vote]) -> float:
    total = sum(v.weight for v in votes)
    return sum(v.weight * v.prob_fake for v in votes) / total


@register_strategy("average")
class AverageStrategy(FusionStrategy):
    """score = Σ wᵢ·pᵢ / Σ wᵢ over detectors that gave a score (registry weights).

    verdict: "uncertain" within threshold ± band, else fake/real; confidence: distance from the
    threshold scaled to [0, 1] (see ``distance_confidence``).
    """

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        score = weighted_mean(votes)
        return FusionResult(
            score_fake=score,
            verdict=verdict_for(score, ctx.threshold, ctx.uncertainty_band),
            confidence=distance_confidence(score, ctx.threshold),
            method=self.name,
        )
