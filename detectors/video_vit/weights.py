"""Reading and writing Cross-Efficient-ViT weights.

The default (trained here) is a safetensors file whose metadata carries the model config, a logit
calibration fitted on validation data and a note of how it was trained, so the file alone rebuilds
the model. The published ``cross_efficient_vit.pth`` is a plain state_dict for the PUBLISHED config;
it is loaded with ``weights_only=True`` and ``strict=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from detectors.video_vit.model import PUBLISHED, CrossEfficientViT, CrossEfficientViTConfig
from tribunal_sdk import WeightsUnavailable


@dataclass(frozen=True)
class Calibration:
    """``sigmoid(scale * logit + bias)``: Platt scaling of the per-face logit (identity by default)."""

    scale: float = 1.0
    bias: float = 0.0


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
