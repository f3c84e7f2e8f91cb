"""Which encoder the detector runs: the ``options:`` block of detector.yaml, overridden by the environment.

No CLIP weights install offline, so the published CLIP ViT-L/14 is used only when an operator points
``TRIBUNAL_CLIP_WEIGHTS`` (or ``options.clip.weights``) at a local copy of OpenAI's ``ViT-L-14.pt``.
Otherwise the detector runs its default: the same linear-probe method on EfficientNet-Lite features.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from detectors.clip_universal.published_weights import (
    DEFAULT_CLIP_MODEL,
    OPENAI_VIT_L14_SHA256,
    UFD_FC_SHA256,
)

_SHA256 = r"^[0-9a-f]{64}$"

# Environment variable -> field of ClipOptions.
ENV_VARS = {
    "TRIBUNAL_CLIP_WEIGHTS": "weights",
    "TRIBUNAL_CLIP_WEIGHTS_SHA256": "weights_sha256",
    "TRIBUNAL_CLIP_FC_WEIGHTS": "fc_weights",
    "TRIBUNAL_CLIP_FC_SHA256": "fc_sha256",
    "TRIBUNAL_CLIP_MODEL": "model",
}


class ClipOptions(BaseModel):
    """The published-weights mode: an open_clip architecture, its CLIP checkpoint and a linear head."""

    model: str = DEFAULT_CLIP_MODEL
    weights: Path | None = Field(
        None, description="OpenAI CLIP checkpoint (e.g. ViT-L-14.pt); None: not used"
    )
    weights_sha256: str = Field(OPENAI_VIT_L14_SHA256, pattern=_SHA256)
    fc_weights: Path | None = Field(None, description="linear head; None: weights/fc_weights.pth")
    fc_sha256: str = Field(UFD_FC_SHA256, pattern=_SHA256)


class DefaultOptions(BaseModel):
    """The out-of-the-box mode: EfficientNet-Lite multi-stage features and a head trained here."""

    backbones: list[Literal["lite0", "lite1", "lite2"]] = Field(
        default_factory=lambda: ["lite0", "lite2"], min_length=1
    )
    head: str = "probe_efficientnet_lite0_lite2.pth"


class DetectorOptions(BaseModel):
    clip: ClipOptions = Field(default_factory=ClipOptions)
    default: DefaultOptions = Field(default_factory=DefaultOptions)

    @property
    def uses_clip(self) -> bool:
        return self.clip.weights is not None


def read_options(
    spec_file: Path, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> DetectorOptions:
    """Options from ``spec_file``'s ``options:`` block, then ``TRIBUNAL_CLIP_*`` variables on top.

    Relative paths in the file are taken from ``base_dir`` (the detector's folder); paths from the
    environment are used as given.
    """
    environ = os.environ if environ is None else environ
    base_dir = base_dir or spec_file.parent
    raw: Any = (yaml.safe_load(spec_file.read_text()) or {}).get("options") or {}
    clip = dict(raw.get("clip") or {})
    for key in ("weights", "fc_weights"):
        if clip.get(key):
            clip[key] = base_dir / Path(clip[key]).expanduser()
    for var, field in ENV_VARS.items():
        if environ.get(var):
            clip[field] = environ[var]
    try:
        return DetectorOptions.model_validate({**raw, "clip": clip})
    except ValidationError as exc:
        raise ValueError(
            f"{spec_file}: invalid clip_universal options (or TRIBUNAL_CLIP_* variables):\n{exc}"
        ) from exc
