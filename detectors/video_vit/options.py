"""The detector's knobs: the ``options:`` block of detector.yaml, overridden by ``TRIBUNAL_VIDEO_VIT_*``.

e.g. ``TRIBUNAL_VIDEO_VIT_MODE=frames`` scores whole frames (videos without faces);
``TRIBUNAL_VIDEO_VIT_PUBLISHED_WEIGHTS=/models/cross_efficient_vit.pth`` plus
``TRIBUNAL_VIDEO_VIT_PUBLISHED_SHA256=<hex>`` runs the published model instead of the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from tribunal_sdk.video import VideoLimits

SPEC_FILE = Path(__file__).resolve().parent / "detector.yaml"


class VideoVitOptions(BaseSettings):
    """How the video detector samples, finds faces, caps inputs and which weights it runs."""

    model_config = SettingsConfigDict(env_prefix="TRIBUNAL_VIDEO_VIT_", extra="forbid")

    mode: Literal["faces", "frames"] = Field(
        "faces", description="faces: score face tracks, abstain (no_face) without one; frames: whole frames"
    )
    frames: int = Field(30, ge=1, le=300, description="frames sampled evenly over the video")
    max_tracks: int = Field(3, ge=1, le=10, description="face tracks scored per video")
    min_track_fraction: float = Field(
        0.2, ge=0, le=1, description="a face track must appear in this share of the sampled frames"
    )
    face_detect_side: int = Field(640, ge=64, description="frames are searched at most this many px wide")
    batch_size: int = Field(8, ge=1, description="crops per forward pass (activation memory grows with it)")
    max_duration_s: float = Field(600.0, gt=0)
    max_frame_pixels: int = Field(4096 * 2304, gt=0)
    max_frames: int = Field(100_000, gt=0)
    threads: int = Field(2, ge=1, description="torch CPU threads")
    weights_file: str = Field("video_vit_small.safetensors", description="the default, under weights/")
    published_weights: Path | None = Field(None, description="the published cross_efficient_vit.pth")
    published_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _published_is_pinned(self) -> VideoVitOptions:
        if self.published_weights is not None and self.published_sha256 is None:
            raise ValueError(
                "published_weights needs published_sha256 (TRIBUNAL_VIDEO_VIT_PUBLISHED_SHA256): every "
                "weight file is pinned by its digest"
            )
        return self

    def limits(self) -> VideoLimits:
        return VideoLimits(
            max_duration_s=self.max_duration_s,
            max_frame_pixels=self.max_frame_pixels,
            max_frames=self.max_frames,
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments, then the environment, then detector.yaml's options: block.
        yaml_source = YamlConfigSettingsSource(
            settings_cls, yaml_file=SPEC_FILE, yaml_config_section="options"
        )
        return (init_settings, env_settings, yaml_source)
