"""The ``video:`` section of the gateway settings: what the gateway accepts as a video, how many keyframes.

Part of ``GatewaySettings`` (``settings.video``), so it is set like every other setting: in
config/gateway.yaml

    video:
      max_duration_s: 120
      keyframes: 8

or by environment variable, which wins over the file. The variables keep the flat names they had when
this section read the environment on its own (``ENV_NAMES``): ``TRIBUNAL_MAX_VIDEO_DURATION_S``,
``TRIBUNAL_MAX_VIDEO_FRAME_PIXELS``, ``TRIBUNAL_MAX_VIDEO_FRAMES``, ``TRIBUNAL_VIDEO_KEYFRAMES``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from tribunal_sdk.video import VideoLimits

# Setting → its environment variable (read by gateway/settings.py, case-insensitively like the others).
ENV_NAMES = {
    "max_duration_s": "TRIBUNAL_MAX_VIDEO_DURATION_S",
    "max_frame_pixels": "TRIBUNAL_MAX_VIDEO_FRAME_PIXELS",
    "max_frames": "TRIBUNAL_MAX_VIDEO_FRAMES",
    "keyframes": "TRIBUNAL_VIDEO_KEYFRAMES",
}


class VideoSettings(BaseModel):
    """Caps on an uploaded video (over one: 413) and the keyframes sent to the image detectors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_duration_s: float = Field(600.0, gt=0, description="longer videos are refused (413)")
    max_frame_pixels: int = Field(4096 * 2304, gt=0, description="larger frames are refused (413)")
    max_frames: int = Field(100_000, gt=0, description="bounds a decode when the container has no length")
    # Evenly spaced frames sent to the enabled image detectors (0: none; the video is still decoded
    # far enough to prove it holds a frame).
    keyframes: int = Field(6, ge=0, le=32)

    def limits(self) -> VideoLimits:
        return VideoLimits(
            max_duration_s=self.max_duration_s,
            max_frame_pixels=self.max_frame_pixels,
            max_frames=self.max_frames,
        )


def values_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The video settings that ``environ`` sets, by setting name (names matched case-insensitively)."""
    upper = {name.upper(): value for name, value in environ.items()}
    return {field: upper[env] for field, env in ENV_NAMES.items() if env in upper}
