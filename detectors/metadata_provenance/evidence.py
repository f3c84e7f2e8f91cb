"""What the readers found, and how it becomes one Prediction.

Every reader (C2PA, PNG text, EXIF, XMP) returns ``Findings``: evidence items, warnings and a
summary for ``details``. ``score()`` turns the merged findings into a Prediction.

Scoring. Each evidence item points one way (``fake`` or ``real``) with a strength; a strength is a
probability of fake that item would justify on its own (the tables below). Within one direction
only the strongest item counts, because items on one side are usually one fact written twice (a
ComfyUI ``prompt`` and ``workflow``, or EXIF and XMP copies of the same camera). The strongest fake
and strongest real item are then combined as independent likelihood ratios around an even prior
(their log-odds add) and the result is kept inside [0.01, 0.99]: metadata can be forged or copied,
so it never justifies certainty.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tribunal_sdk.result import Prediction
from tribunal_sdk.taxonomy import OTHER_AI, REAL

Direction = Literal["fake", "real", "neutral"]
Strength = Literal["strong", "moderate", "weak"]

# P(fake) one item justifies alone. Fake-pointing metadata is rarely written by anyone but the
# generator (forging it only hurts the forger), so even "weak" fake evidence is fairly high.
FAKE_PROB: dict[str, float] = {"strong": 0.99, "moderate": 0.97, "weak": 0.90}
# Real-pointing metadata is trivially copied onto a generated image, so only a C2PA capture
# manifest from a trusted signer is strong; plain camera EXIF barely moves the needle.
REAL_PROB: dict[str, float] = {"strong": 0.05, "moderate": 0.20, "weak": 0.35}

PROB_FLOOR, PROB_CEILING = 0.01, 0.99
_RANK = {"strong": 3, "moderate": 2, "weak": 1}
_EXCERPT_CHARS = 200


def excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """A short, single-line excerpt of metadata text for ``details`` (prompts can be kilobytes)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Evidence:
    """One thing the file says about its own origin."""

    kind: str  # where it was found: c2pa, png_text, exif, xmp, jpeg_comment
    key: str  # which field: a chunk keyword, an EXIF tag, an XMP property, a C2PA assertion
    direction: Direction
    strength: Strength | None = None  # None for neutral findings, which are reported but not scored
    generator: str | None = None  # canonical taxonomy name; fake evidence only
    tool: str | None = None  # the software that wrote it, when known (automatic1111, comfyui, ...)
    value: str = ""  # short excerpt of what was read

    def __post_init__(self) -> None:
        if (self.direction == "neutral") != (self.strength is None):
            raise ValueError("neutral evidence has no strength; fake/real evidence needs one")

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class Findings:
    """What one reader (or all of them, merged) found in a file."""

    evidence: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: Findings) -> None:
        self.evidence.extend(other.evidence)
        self.warnings.extend(other.warnings)
        self.details.update(other.details)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _strongest(items: list[Evidence]) -> Evidence | None:
    return max(items, key=lambda e: _RANK[e.strength or "weak"], default=None)


def attribute(fake: list[Evidence]) -> list[str]:
    """The generators to credit: those named by the most reliable tier of evidence that names any.

    Evidence that only says "AI" (an IPTC source type, an unknown checkpoint) names ``other_ai``;
    it is used only when nothing names a specific generator.
    """
    for rank in (3, 2, 1):
        named = [
            e.generator
            for e in fake
            if _RANK[e.strength or "weak"] == rank and e.generator and e.generator != OTHER_AI
        ]
        if named:
            return list(dict.fromkeys(named))
    return [OTHER_AI]


def score(findings: Findings) -> Prediction:
    """Combine the findings into a Prediction (abstaining with ``no_evidence`` when nothing points
    either way). Everything found goes into ``details["evidence"]`` so the answer can be checked."""
    fake = [e for e in findings.evidence if e.direction == "fake"]
    real = [e for e in findings.evidence if e.direction == "real"]
    details = {**findings.details, "evidence": [e.as_dict() for e in findings.evidence]}
    warnings = list(dict.fromkeys(findings.warnings))

    if not fake and not real:
        return Prediction(
            prob_fake=None, abstained=True, reason="no_evidence", details=details, warnings=warnings
        )

    top_fake, top_real = _strongest(fake), _strongest(real)
    log_odds = 0.0
    if top_fake is not None:
        log_odds += _logit(FAKE_PROB[top_fake.strength or "weak"])
    if top_real is not None:
        log_odds += _logit(REAL_PROB[top_real.strength or "weak"])
    prob_fake = round(min(PROB_CEILING, max(PROB_FLOOR, 1.0 / (1.0 + math.exp(-log_odds)))), 6)
    details["scoring"] = {
        "strongest_fake": top_fake.strength if top_fake else None,
        "strongest_real": top_real.strength if top_real else None,
    }

    if top_fake is not None and top_real is not None:
        warnings.append(
            "conflicting metadata: "
            f"{top_fake.kind} {top_fake.key} says AI-generated ({top_fake.strength}), "
            f"{top_real.kind} {top_real.key} says captured ({top_real.strength})"
        )

    class_probs = None
    if fake:
        # Attribution only when the metadata claims AI at all: camera-only evidence names no generator.
        generators = attribute(fake)
        share = round(prob_fake / len(generators), 6)
        class_probs = {REAL: round(1.0 - prob_fake, 6), **dict.fromkeys(generators, share)}
        details["generators"] = generators

    return Prediction(prob_fake=prob_fake, class_probs=class_probs, details=details, warnings=warnings)
