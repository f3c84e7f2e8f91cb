"""The gateway's request and answer bodies (the public contract of /detect and /predict)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.attribution import Attribution, public_detector_result
from gateway.fusion import Verdict
from gateway.video.schemas import VideoEvidence
from tribunal_sdk.client import DetectorOutcome


class DetectionAnswer(BaseModel):
    """The answer to ``POST /detect`` and ``POST /predict``.

    ``id``           uuid4 hex naming this analysis
    ``sha256``       of the uploaded bytes
    ``media_type``   "image" or "video", recognised from the bytes (never the file name)
    ``verdict``      "fake", "real" or "uncertain". "uncertain" when the fused score lies within
                     threshold ± uncertainty_band (bounds included), on a voting tie, and when no
                     detector gave a usable score (everyone abstained)
    ``score_fake``   fused P(AI-generated) in [0, 1]; null when no detector gave a usable score.
                     For ``voting`` it is the weighted share of detectors voting fake
    ``confidence``   in [0, 1]; null with no usable score. ``average``/``stacking``: how far the score
                     sits from the threshold, scaled so 0 = at the threshold and 1 = at 0 or 1.
                     ``voting``: the winning side's share of the vote (0.5 on a tie)
    ``method``       the fusion actually used, with any fallback spelled out, e.g.
                     "average (stacking unavailable: no deployed meta-learner for image)"
    ``threshold``    the decision threshold used for this request
    ``attribution``  {"predicted_source", "probs"}: probs = {"real": 1 - score_fake, family:
                     score_fake x its share among the attribution detectors}; null when no detector
                     gave class probabilities. predicted_source is "real" below the threshold, else
                     the most likely generator family, or "unknown_ai" when none holds at least
                     ``attribution_min_share`` of the fake score (see ``gateway/attribution.py``)
    ``detectors``    one entry per enabled detector for the media type, each with a ``status``:
                     ok, abstained, timeout, error, unavailable or skipped (not asked because of
                     ``models``), plus its prob_fake, class_probs, reason, version, elapsed_ms,
                     error, heatmap_png (with explain), details and warnings

    Every class name in the answer is a public one (``tribunal_sdk.taxonomy.PUBLIC_CLASSES``): the
    ``detectors`` entries are mapped here, whoever builds the answer (images and videos alike).
    ``degraded``     true when any asked detector failed (timeout, error or unavailable)
    ``missing``      the names of those failed detectors
    ``warnings``     human-readable notes about this answer (what failed and why, ignored options)
    ``elapsed_ms``   gateway time for this analysis
    ``video``        videos only: the container's facts, the video score, the frames and faces the video
                     detectors used, each keyframe's image evidence and how they were combined (see
                     ``gateway.video.schemas.VideoEvidence`` and ``gateway/video/fusion.py``)
    """

    id: str
    sha256: str
    media_type: Literal["image", "video"]
    verdict: Verdict
    score_fake: float | None
    confidence: float | None
    method: str
    threshold: float
    attribution: Attribution | None
    detectors: list[DetectorOutcome]
    degraded: bool
    missing: list[str]
    warnings: list[str] = Field(default_factory=list)
    elapsed_ms: float
    video: VideoEvidence | None = None

    @field_validator("detectors")
    @classmethod
    def _public_class_names(cls, outcomes: list[DetectorOutcome]) -> list[DetectorOutcome]:
        # Detectors may answer with training-only or corpus class names (sim_*, sd1); users see families.
        return [
            outcome.model_copy(
                update=public_detector_result(
                    {"class_probs": outcome.class_probs, "details": outcome.details}
                )
            )
            for outcome in outcomes
        ]


class PredictRequest(BaseModel):
    """``POST /predict``: the upload as base64 in JSON, with the same options as /detect's form fields."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="the file's bytes, base64 (a data: URL prefix is accepted)")
    media_type: Literal["image", "video"] | None = Field(
        None, description="optional; checked against the bytes, which decide"
    )
    ensemble_method: str | None = None
    models: list[str] | str | None = Field(None, description="detector names, as a list or a comma list")
    threshold: float | None = Field(None, gt=0, lt=1)
    explain: bool = False

    @field_validator("models")
    @classmethod
    def _split(cls, value: list[str] | str | None) -> list[str] | None:
        return parse_models(value)


def parse_models(value: list[str] | str | None) -> list[str] | None:
    """ "a, b" or ["a", "b"] → ["a", "b"]; empty means "all detectors" (None)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    names = [name.strip() for name in items if name.strip()]
    return list(dict.fromkeys(names)) or None
