"""Fused attribution: which generator family made the file, consistent with the fused fake score.

Users only ever see public names (``tribunal_sdk.taxonomy.PUBLIC_CLASSES``): ``real``, a generator
family (``sd``, ``sdxl``, ``sd35``, ``flux``, ``midjourney``, ``gpt_image``, ``gemini``, ``gan``,
``other_ai``, ...) or ``unknown_ai``, "made by AI, family unknown". Detectors may know other classes;
``public_class_probs`` folds any detector's distribution onto the public names first:

    sim_*          -> unknown_ai   the benchmark's simulated up-sampling families are training aids:
                                   they say "AI-made", never which product made it
    a public name  -> itself
    anything else  -> family_of(name)  (sd1 -> sd, dalle3 -> gpt_image; a name it does not know -> other_ai)

and the probabilities of names that land on one family add up. Fusion then works on those public
distributions:

    P(real)    = 1 - score_fake
    P(family)  = score_fake * share(family)

where share() is the weighted average, over the detectors that gave class probabilities, of each
detector's distribution over its non-real families (renormalised to sum to 1). So the families split
the ensemble's belief that the file is fake, in the proportions the attribution detectors suggest,
and the whole distribution sums to 1.

``predicted_source`` agrees with the verdict's score:

    real          score_fake < threshold
    the family    with the largest share of the fake mass, when that share is at least ``min_share``
                  (the gateway's ``attribution_min_share``); ``unknown_ai`` is never this candidate
    unknown_ai    otherwise: the file looks AI-made but no family is likely enough to name

The same names apply to everything else a user sees: each detector's own ``class_probs`` and the
generator names in its ``details`` (``public_detector_result``, applied to every answer by
``gateway.schemas.DetectionAnswer``), and history rows recorded before these rules existed (read back
through the same function). The raw class probabilities still reach the stacking meta-learner, whose
features are the detectors' own classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from tribunal_sdk.taxonomy import PUBLIC_CLASSES, REAL, UNKNOWN_AI, family_of, is_simulated

# Below this share of the fake mass the most likely family is not named: the source is unknown_ai.
# Out of fold on the corpus a family named at 0.5 or more is right half the time (config/gateway.yaml).
DEFAULT_MIN_SHARE = 0.5

# The generator names a detector may put in its ``details`` (attribution_cnn, fft_spectral).
_NAME_DETAILS = ("predicted_source", "predicted_class", "family_hint")
_DISTRIBUTION_DETAILS = ("family_probs_if_ai",)


def public_class(name: str) -> str:
    """The public name a user sees for any class name a detector or an old history row may hold."""
    if name in PUBLIC_CLASSES:
        return name
    key = name.strip().lower()
    if key in PUBLIC_CLASSES:
        return key
    if is_simulated(key):
        return UNKNOWN_AI
    return family_of(key)


def public_class_probs(class_probs: Mapping[str, float]) -> dict[str, float]:
    """``class_probs`` over public names: each name mapped by ``public_class``, same-family mass summed.

    The total is unchanged, so a distribution summing to 1 still does.
    """
    public: dict[str, float] = {}
    for name, p in class_probs.items():
        family = public_class(name)
        public[family] = public.get(family, 0.0) + float(p)
    return public


def _is_distribution(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(p, int | float) and not isinstance(p, bool) for p in value.values()
    )


def public_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A detector's ``details`` with the generator names in it made public; other keys untouched."""
    public = dict(details)
    for key in _NAME_DETAILS:
        if isinstance(public.get(key), str):
            public[key] = public_class(public[key])
    for key in _DISTRIBUTION_DETAILS:
        if _is_distribution(public.get(key)):
            public[key] = public_class_probs(public[key])
    return public


def public_detector_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """One detector's result (an answer's ``detectors`` entry, or one stored in the history) with its
    ``class_probs`` and ``details`` in public names; every other field as it was."""
    public = dict(result)
    if isinstance(public.get("class_probs"), Mapping):
        public["class_probs"] = public_class_probs(public["class_probs"])
    if isinstance(public.get("details"), Mapping):
        public["details"] = public_details(public["details"])
    return public


@dataclass(frozen=True)
class ClassVote:
    """One detector's class probabilities (over its own classes, one of them "real")."""

    detector: str
    class_probs: dict[str, float]
    weight: float = 1.0


class Attribution(BaseModel):
    """The fused source distribution and its most likely source, in public names only."""

    predicted_source: str = Field(description="'real', a generator family, or 'unknown_ai'")
    probs: dict[str, float] = Field(
        description="'real' plus every generator family (and 'unknown_ai'), summing to 1"
    )


def fuse_attribution(
    score_fake: float | None,
    votes: Sequence[ClassVote],
    threshold: float = 0.5,
    min_share: float = DEFAULT_MIN_SHARE,
) -> Attribution | None:
    """None when there is no fused score or no detector said anything about which generator.

    ``predicted_source`` follows the rules in this module's docstring. Above the threshold it names a
    generator family even when P(real) is the single largest entry (a 0.66 fake score split among
    several families leaves each under 0.34, and "fake, made by: real" would contradict the verdict).
    """
    if score_fake is None:
        return None
    shares: dict[str, float] = {}
    total_weight = 0.0
    for vote in votes:
        probs = public_class_probs(vote.class_probs)
        generators = {name: p for name, p in probs.items() if name != REAL and p > 0}
        mass = sum(generators.values())
        if mass <= 0:
            continue  # this detector is sure it is real: it has no opinion on the generator
        total_weight += vote.weight
        for name, p in generators.items():
            shares[name] = shares.get(name, 0.0) + vote.weight * p / mass
    if total_weight == 0:
        return None
    share = {name: s / total_weight for name, s in shares.items()}
    probs = {REAL: 1.0 - score_fake}
    for name in sorted(share, key=lambda n: (-share[n], n)):  # largest share first
        probs[name] = score_fake * share[name]
    return Attribution(
        predicted_source=_predicted_source(score_fake, share, threshold, min_share), probs=probs
    )


def _predicted_source(
    score_fake: float, share: Mapping[str, float], threshold: float, min_share: float
) -> str:
    if score_fake < threshold:
        return REAL
    named = {name: s for name, s in share.items() if name != UNKNOWN_AI}
    if not named:
        return UNKNOWN_AI
    best = min(named, key=lambda n: (-named[n], n))
    # A tiny tolerance so a share of exactly min_share (e.g. 0.35 as 0.35000000000000003) counts.
    return best if named[best] >= min_share - 1e-9 else UNKNOWN_AI
