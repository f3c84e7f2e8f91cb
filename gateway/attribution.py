"""Fused attribution: which generator made the image, consistent with the fused fake score.

    P(real)      = 1 - score_fake
    P(generator) = score_fake * share(generator)

where share() is the weighted average, over the detectors that gave class probabilities, of each
detector's distribution over its non-real classes (renormalised to sum to 1). So the generators split
the ensemble's belief that the image is fake, in the proportions the attribution detectors suggest,
and the whole distribution sums to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from tribunal_sdk.taxonomy import REAL


@dataclass(frozen=True)
class ClassVote:
    """One detector's class probabilities (over its own classes, one of them "real")."""

    detector: str
    class_probs: dict[str, float]
    weight: float = 1.0


class Attribution(BaseModel):
    """The fused source distribution and its most likely class."""

    predicted_source: str
    probs: dict[str, float] = Field(description="'real' plus every generator class, summing to 1")


def fuse_attribution(
    score_fake: float | None, votes: Sequence[ClassVote], threshold: float = 0.5
) -> Attribution | None:
    """None when there is no fused score or no detector said anything about which generator.

    ``predicted_source`` agrees with the score: ``real`` below ``threshold``, else the most likely
    generator, even when P(real) is the single largest entry (a 0.66 fake score split among several
    generators leaves each under 0.34, and "fake, made by: real" would contradict the verdict).
    """
    if score_fake is None:
        return None
    shares: dict[str, float] = {}
    total_weight = 0.0
    for vote in votes:
        generators = {name: p for name, p in vote.class_probs.items() if name != REAL and p > 0}
        mass = sum(generators.values())
        if mass <= 0:
            continue  # this detector is sure it is real: it has no opinion on the generator
        total_weight += vote.weight
        for name, p in generators.items():
            shares[name] = shares.get(name, 0.0) + vote.weight * p / mass
    if total_weight == 0:
        return None
    probs = {REAL: 1.0 - score_fake}
    for name in sorted(shares, key=lambda n: -shares[n]):
        probs[name] = score_fake * shares[name] / total_weight
    generators = [name for name in probs if name != REAL]  # largest share first
    predicted = REAL if score_fake < threshold else generators[0]
    return Attribution(predicted_source=predicted, probs=probs)
