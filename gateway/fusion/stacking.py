"""Stacked ensemble: a meta-learner trained on the detectors' scores (the slot a later issue fills).

Until a meta-learner is deployed for the media type, this strategy averages instead and says so in
``method``, so a client never mistakes the fallback for the real thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from gateway.fusion.average import AverageStrategy
from gateway.fusion.base import FusionContext, FusionResult, FusionStrategy, Vote, register_strategy


class MetaLearner(Protocol):
    """What stacking needs from a deployed meta-learner artifact."""

    version: str

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult: ...


def no_meta_learner(media_type: str) -> MetaLearner | None:
    """The provider in use until meta_learner/ can load deployed artifacts: nothing is deployed."""
    return None


@register_strategy("stacking")
class StackingStrategy(FusionStrategy):
    """Use the deployed meta-learner for the media type; fall back to weighted averaging without one."""

    def __init__(self, provider: Callable[[str], MetaLearner | None] = no_meta_learner):
        self.provider = provider

    def run(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        if self.provider(ctx.media_type) is not None:
            return super().run(votes, ctx)
        fallback = AverageStrategy().run(votes, ctx)
        why = f"stacking unavailable: no deployed meta-learner for {ctx.media_type}"
        if fallback.method != "average":  # the fallback has its own note (e.g. no usable scores)
            why += "; " + fallback.method.removeprefix("average (").removesuffix(")")
        return replace(fallback, method=f"average ({why})")

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        learner = self.provider(ctx.media_type)
        if learner is None:  # only reached when fuse() is called directly
            return self.run(votes, ctx)
        return learner.fuse(votes, ctx)
