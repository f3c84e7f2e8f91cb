"""The video part of a detection answer (``DetectionAnswer.video``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Basis = Literal["video_detectors", "keyframes", "none"]


class KeyframeResult(BaseModel):
    """What one image detector said about one keyframe."""

    name: str
    status: str
    prob_fake: float | None = None
    reason: str | None = None
    error: str | None = None


class KeyframeEvidence(BaseModel):
    frame_index: int
    time_s: float | None
    width: int
    height: int
    mean_prob_fake: float | None = Field(
        None, description="weighted mean of the image detectors' scores on this frame (abstentions left out)"
    )
    detectors: list[KeyframeResult]


class VideoDetectorEvidence(BaseModel):
    """What one video detector reported using (read from its ``details``)."""

    name: str
    status: str
    prob_fake: float | None = None
    reason: str | None = None
    mode: str | None = None
    frames_sampled: int | None = None
    faces_found: int | None = None
    faces_used: int | None = None
    tracks: list[dict[str, Any]] = Field(default_factory=list)


class VideoEvidence(BaseModel):
    """How the verdict on a video was reached, and what it rests on.

    ``basis``           "video_detectors" when at least one video detector gave a score (the verdict is
                        their fused score), "keyframes" when none did and the image detectors' keyframe
                        scores decided, "none" when nobody gave a score (verdict "uncertain")
    ``video_score``     the video detectors' fused score (null when none gave one)
    ``keyframe_score``  the image detectors' fused keyframe score (each detector's mean over keyframes)
    ``frames_used``     most frames any answering video detector sampled
    ``faces_used``      most face crops any answering video detector scored
    ``keyframes``       per keyframe: which image detector said what
    """

    container: dict[str, Any]
    basis: Basis
    fusion_rule: str
    video_score: float | None
    keyframe_score: float | None
    frames_used: int | None
    faces_used: int | None
    video_detectors: list[VideoDetectorEvidence]
    keyframes: list[KeyframeEvidence]
