"""Video caps and keyframe sampling of the gateway (environment variables, ``TRIBUNAL_`` prefix).

Kept apart from ``GatewaySettings`` so the video path can be configured without touching it:
``TRIBUNAL_MAX_VIDEO_DURATION_S=120``, ``TRIBUNAL_VIDEO_KEYFRAMES=8``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tribunal_sdk.video import VideoLimits


class VideoSettings(BaseSettings):
    """What the gateway accepts as a video and how many keyframes the image detectors see."""

    # extra="ignore": other TRIBUNAL_* variables belong to GatewaySettings and the detectors.
    model_config = SettingsConfigDict(env_prefix="TRIBUNAL_", extra="ignore")

    max_video_duration_s: float = Field(600.0, gt=0, description="longer videos are refused (413)")
    max_video_frame_pixels: int = Field(4096 * 2304, gt=0, description="larger frames are refused (413)")
    max_video_frames: int = Field(100_000, gt=0)
    # Evenly spaced frames sent to the enabled image detectors (0: none; the video is still decoded
    # far enough to prove it holds a frame).
    video_keyframes: int = Field(6, ge=0, le=32)

    def limits(self) -> VideoLimits:
        return VideoLimits(
            max_duration_s=self.max_video_duration_s,
            max_frame_pixels=self.max_video_frame_pixels,
            max_frames=self.max_video_frames,
        )
