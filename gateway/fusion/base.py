"""What a fusion strategy sees and returns, and the registry strategies plug into by name.

Adding a strategy is one new module in this package plus its name in ``gateway/fusion/__init__.py``:

    @register_strategy("median")
    class MedianStrategy(FusionStrategy):
        def fuse(self, votes, ctx):
            ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gateway.attribution import DEFAULT_MIN_SHARE

Verdict = Literal["fake", "real", "uncertain"]


@dataclass(frozen=True)
class Vote:
    """One usable detector score: the detector answered and did not abstain."""

    detector: str
    prob_fake: float
    weight: float = 1.0


@dataclass(frozen=True)
class FusionContext:
    """Everything about the request a strategy may need besides the scores."""

    media_type: str
    threshold: float = 0.5
    uncertainty_band: float = 0.0
    # The fused attribution's floor (gateway/attribution.py): a family needs this share of the fake score
    # to be named as the source. Strategies ignore it.
    attribution_min_share: float = DEFAULT_MIN_SHARE
    # Detectors that were asked but gave no score (failed or abstained): a stacked model must handle them.
    absent: tuple[str, ...] = field(default_factory=tuple)
    # What stacking needs beyond the votes; the other strategies ignore it. ``registered``: the registry's
    # enabled detectors for this media type (a meta-learner must have been trained on exactly these).
    registered: tuple[str, ...] = field(default_factory=tuple)
    class_probs: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # per voting detector
    versions: Mapping[str, str] = field(default_factory=dict)  # version each answering detector reported
    meta_learner_dir: Path | None = None  # where deployed meta-learners live; None: the repository's


@dataclass(frozen=True)
class FusionResult:
    """The fused answer. ``score_fake`` and ``confidence`` are None when there was nothing to fuse."""

    score_fake: float | None
    verdict: Verdict
    confidence: float | None
    method: str
    warnings: tuple[str, ...] = ()  # notes for the answer's warnings (e.g. a detector version changed)


class FusionStrategy(ABC):
    """Turns the usable scores of one request into one verdict. Abstentions never reach a strategy."""

    name: str = ""
    # True when fusing costs real CPU (a model's forward pass): the pipeline then runs it in a worker
    # thread. The arithmetic strategies run on the event loop; a hop would cost more than they do.
    blocking: bool = False

    def warm_up(self, ctx: FusionContext) -> None:
        """Start preparing what fusing under ``ctx`` will need (called once at start-up); never blocks.

        Nothing to prepare for most strategies."""
        return None

    @abstractmethod
    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        """Fuse ``votes`` (at least one) under ``ctx``."""

    def run(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        """Fuse, or say "uncertain" with no score when no detector gave a usable score."""
        if not votes:
            return FusionResult(
                score_fake=None,
                verdict="uncertain",
                confidence=None,
                method=f"{self.name} (no usable scores: every answering detector abstained)",
            )
        return self.fuse(votes, ctx)


def verdict_for(score: float, threshold: float, band: float) -> Verdict:
    """fake above the band, real below it, uncertain inside it (bounds included, so a score exactly at
    the threshold is never a silent "fake")."""
    # The epsilon keeps the bounds inclusive despite float error (0.8 - 0.7 is 0.10000000000000009).
    if abs(score - threshold) <= band + 1e-9:
        return "uncertain"
    return "fake" if score > threshold else "real"


def distance_confidence(score: float, threshold: float) -> float:
    """How far ``score`` sits from the threshold, scaled to [0, 1]: 0 at the threshold, 1 at 0 or 1."""
    if score >= threshold:
        return (score - threshold) / (1.0 - threshold)
    return (threshold - score) / threshold


_STRATEGIES: dict[str, type[FusionStrategy]] = {}


def register_strategy(name: str) -> Callable[[type[FusionStrategy]], type[FusionStrategy]]:
    """Class decorator: make a strategy available as ``ensemble_method=name``."""

    def decorate(cls: type[FusionStrategy]) -> type[FusionStrategy]:
        if name in _STRATEGIES and _STRATEGIES[name] is not cls:
            raise ValueError(
                f"fusion strategy {name!r} is already registered by {_STRATEGIES[name].__name__}"
            )
        cls.name = name
        _STRATEGIES[name] = cls
        return cls

    return decorate


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def get_strategy(name: str) -> FusionStrategy:
    """A fresh instance of the strategy registered as ``name``; UnknownStrategy lists the known names."""
    try:
        cls = _STRATEGIES[name]
    except KeyError:
        from gateway.errors import UnknownStrategy  # imported late: fusion stays free of FastAPI

        raise UnknownStrategy(name, strategy_names()) from None
    return cls()
