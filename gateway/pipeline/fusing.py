"""One request's fusion: its strategy and threshold, the contexts strategies see, votes, attribution.

Strategies are called on the event loop: averaging and voting are a few arithmetic operations, far
cheaper than a hop to a worker thread. A strategy that runs a model says so (``blocking``) and runs in a
thread instead. No request waits for a meta-learner's reload: it loads in the background while the
previous version serves (gateway/fusion/stacking.py); the default method's is loaded at start-up
(``warm_up``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gateway.attribution import Attribution, ClassVote, fuse_attribution
from gateway.fusion import FusionContext, FusionStrategy, Vote, get_strategy
from gateway.registry import Registry
from gateway.settings import GatewaySettings
from tribunal_sdk.client import DetectorOutcome, DetectorStatus

T = TypeVar("T")


def scored(outcomes: Sequence[DetectorOutcome]) -> list[DetectorOutcome]:
    """The outcomes fusion can use: answered with a score (abstentions and failures left out)."""
    return [o for o in outcomes if o.status == DetectorStatus.OK and o.prob_fake is not None]


def fusion_context(
    settings: GatewaySettings,
    registry: Registry,
    media_type: str,
    threshold: float,
    outcomes: Sequence[DetectorOutcome] = (),
) -> FusionContext:
    """What a strategy sees besides the votes, for ``outcomes`` of detectors of ``media_type``."""
    usable = scored(outcomes)
    return FusionContext(
        media_type=media_type,
        threshold=threshold,
        uncertainty_band=settings.uncertainty_band,
        attribution_min_share=settings.attribution_min_share,
        absent=tuple(o.name for o in outcomes if o.status != DetectorStatus.OK),
        registered=tuple(entry.name for entry in registry.for_media_type(media_type)),
        class_probs={o.name: o.class_probs for o in usable if o.class_probs},
        versions={o.name: o.version for o in outcomes if o.answered and o.version},
        meta_learner_dir=settings.meta_learner_dir,
    )


def warm_up(settings: GatewaySettings, registry: Registry) -> None:
    """Let the default strategy prepare for every media type the registry handles (at start-up; returns
    at once).

    Only the default: preparing stacking loads a meta-learner, and its libraries, of 70 MB (the gateway
    container) to 580 MB (a venv with torch, which skops imports) that a gateway averaging by default may
    never use. A strategy asked for per request prepares on its first use instead.
    """
    strategy = get_strategy(settings.default_method)
    for media_type in registry.media_types():
        strategy.warm_up(fusion_context(settings, registry, media_type, settings.threshold))


@dataclass(frozen=True)
class Fusion:
    """How one request fuses the answers of the detectors it asked."""

    strategy: FusionStrategy
    threshold: float
    settings: GatewaySettings
    registry: Registry
    weights: Mapping[str, float]  # registry weight of each asked detector

    def context(self, media_type: str, outcomes: Sequence[DetectorOutcome]) -> FusionContext:
        return fusion_context(self.settings, self.registry, media_type, self.threshold, outcomes)

    def votes(self, outcomes: Sequence[DetectorOutcome]) -> list[Vote]:
        return [Vote(o.name, o.prob_fake, self.weights[o.name]) for o in scored(outcomes)]  # type: ignore[arg-type]

    async def call(self, fuse: Callable[..., T], *args: object) -> T:
        """``fuse(*args)``: on the event loop, or in a worker thread when the strategy is ``blocking``."""
        if self.strategy.blocking:
            return await asyncio.to_thread(fuse, *args)
        return fuse(*args)

    def attribution(
        self, score_fake: float | None, outcomes: Sequence[DetectorOutcome]
    ) -> Attribution | None:
        """Which generator, from the class probabilities of the detectors that gave a score."""
        votes = [
            ClassVote(o.name, o.class_probs, self.weights[o.name]) for o in scored(outcomes) if o.class_probs
        ]
        return fuse_attribution(score_fake, votes, self.threshold, self.settings.attribution_min_share)
