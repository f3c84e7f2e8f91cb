"""Reading and writing Cross-Efficient-ViT weights.

The default (trained here) is a safetensors file whose metadata carries the model config, a logit
calibration fitted on validation data and a note of how it was trained, so the file alone rebuilds
the model. Beside it, ``<stem>.faces_calibration.json`` (calibrate.py; pinned in detector.yaml) holds
the faces-mode calibration fitted out of fold on a labelled face corpus, bound to the weights' sha256,
and says whether the weights can be trusted on faces at all. The published ``cross_efficient_vit.pth``
is a plain state_dict for the PUBLISHED config; it is loaded with ``weights_only=True`` and
``strict=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from scipy.special import expit

from detectors.video_vit.model import PUBLISHED, CrossEfficientViT, CrossEfficientViTConfig
from tribunal_sdk import WeightsUnavailable


@dataclass(frozen=True)
class Calibration:
    """``sigmoid(scale * logit + bias)``: Platt scaling of the per-face logit (identity by default)."""

    scale: float = 1.0
    bias: float = 0.0


class FacesCalibration(BaseModel):
    """Faces-mode calibration of the default weights, fitted on a labelled face corpus (calibrate.py).

    ``P(fake) = sigmoid(scale * logit + bias)`` per face. When the weights could not separate real
    from AI faces out of fold (``reliable`` false), that probability is squeezed linearly into
    ``[0.5 - band, 0.5 + band]``: the order of the scores is kept, but no answer leaves the gateway's
    uncertainty band, so a real face is never called a confident fake on the strength of noise.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale: float
    bias: float
    reliable: bool
    reason: str = ""
    band: float = Field(0.09, gt=0, lt=0.5)
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    oof_roc_auc: float | None = None
    fitted_on: str = ""
    date: str = ""

    @classmethod
    def unmeasured(cls, calibration: Calibration, weights_sha256: str, why: str) -> FacesCalibration:
        """Weights nobody has calibrated on faces: the training calibration, held inside the band."""
        return cls(
            scale=calibration.scale,
            bias=calibration.bias,
            reliable=False,
            reason=f"{why}; faces-mode scores are held inside the uncertainty band until "
            "`python -m detectors.video_vit.calibrate` measures these weights",
            weights_sha256=weights_sha256,
        )

    def squeeze(self, probs: np.ndarray) -> np.ndarray:
        """``[0, 1] -> [0.5 - band, 0.5 + band]``, linearly (ranks kept)."""
        return 0.5 + (np.asarray(probs, dtype=np.float64) - 0.5) * (2 * self.band)

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Per-face P(fake) from raw logits: Platt, then the squeeze if the weights are unreliable."""
        probs = expit(self.scale * np.asarray(logits, dtype=np.float64) + self.bias)
        return probs if self.reliable else self.squeeze(probs)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> FacesCalibration:
        """Read (and validate) a calibration file: plain JSON, nothing executable."""
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            raise WeightsUnavailable(f"{path.name} is not a valid faces calibration: {exc}") from exc


def faces_calibration_file(weights_file: str) -> str:
    """``video_vit_small.safetensors`` -> ``video_vit_small.faces_calibration.json``."""
    return f"{Path(weights_file).stem}.faces_calibration.json"


@dataclass
class LoadedModel:
    model: CrossEfficientViT
    calibration: Calibration = field(default_factory=Calibration)
    training: dict[str, Any] = field(default_factory=dict)


def save_default(
    model: CrossEfficientViT, path: Path, calibration: Calibration, training: dict[str, Any]
) -> None:
    """Write ``model`` as fp16 safetensors with its config, calibration and training note."""
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    # BatchNorm step counters are integers; fp16 would be wrong for them and they are not needed.
    tensors = {k: v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
    metadata = {
        "config": model.cfg.model_dump_json(),
        "calibration": json.dumps({"scale": calibration.scale, "bias": calibration.bias}),
        "training": json.dumps(training),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def load_default(path: Path) -> LoadedModel:
    """Rebuild the model a ``save_default`` file describes and load its weights strictly."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if "config" not in metadata:
        raise WeightsUnavailable(f"{path.name} carries no model config in its safetensors metadata")
    cfg = CrossEfficientViTConfig.model_validate_json(metadata["config"])
    model = CrossEfficientViT(cfg)
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    model.load_state_dict(state, strict=True)
    calibration = Calibration(**json.loads(metadata.get("calibration", "{}")))
    return LoadedModel(model, calibration, json.loads(metadata.get("training", "{}")))


def init_trunks_from_lite0(model: CrossEfficientViT, lite0_file: Path) -> None:
    """Copy ImageNet EfficientNet-Lite0 weights into both branches (each takes the layers it has)."""
    if model.cfg.backbone != "lite0":
        raise ValueError(f"the Lite0 ImageNet weights fit lite0 branches, not {model.cfg.backbone}")
    source = torch.load(lite0_file, map_location="cpu", weights_only=True)
    for embedder in (model.sm_image_embedder, model.lg_image_embedder):
        trunk = embedder.efficient_net
        wanted = trunk.state_dict().keys()
        trunk.load_state_dict({k: v for k, v in source.items() if k in wanted}, strict=True)


def published_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a published checkpoint; a DataParallel ``module.`` prefix is removed if present."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"{path.name} is not a plain state_dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_published(path: Path, cfg: CrossEfficientViTConfig = PUBLISHED) -> LoadedModel:
    """The published Cross-Efficient-ViT, loaded strictly (every key and shape must match)."""
    model = CrossEfficientViT(cfg)
    try:
        model.load_state_dict(published_state_dict(path), strict=True)
    except RuntimeError as exc:
        raise WeightsUnavailable(f"{path.name} does not match the published architecture: {exc}") from exc
    return LoadedModel(model, Calibration(), {"origin": "published cross_efficient_vit.pth"})
