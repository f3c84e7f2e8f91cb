"""Weighted majority vote: each detector votes fake or real at the threshold."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.fusion.base import FusionContext, FusionResult, FusionStrategy, Vote, register_strategy

# Weights are floats; treat sums this close as a tie rather than letting rounding pick a winner.
_TIE_TOLERANCE = 1e-9


@register_strategy("voting")
class VotingStrategy(FusionStrategy):
    """Each detector with a score votes fake if prob_fake ≥ threshold, else real, with its registry weight.

    score_fake = the weighted share of fake votes; verdict = the side with more weight ("uncertain" on
    a tie); confidence = the winning side's share of the vote (0.5 on a tie).
    """

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        fake = sum(v.weight for v in votes if v.prob_fake >= ctx.threshold)
        total = sum(v.weight for v in votes)
        real = total - fake
        if abs(fake - real) <= _TIE_TOLERANCE * total:
            return FusionResult(
                score_fake=fake / total, verdict="uncertain", confidence=0.5, method=self.name
            )
        verdict = "fake" if fake > real else "real"
        return FusionResult(
            score_fake=fake / total, verdict=verdict, confidence=max(fake, real) / total, method=self.name
        )
