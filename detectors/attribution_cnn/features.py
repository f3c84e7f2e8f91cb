"""Frozen-backbone features of the corpus, computed once through the detector's own view and cached.

Two views of each stored image: ``whole`` (what the detector sees at request time, one crop resized)
and ``zoom`` (its top-left 70 % square resized: training rows only, see ``views.zoom_crop``). For every
stored image and view we keep the spatial mean of all seven block stages' outputs and of the 1280-d
head conv (RGB stream only), so every candidate head (any subset of stages) reads its columns from one
cached matrix, and a second training run costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from detectors.attribution_cnn.model import HEAD_CHANNELS, VARIANT_STAGE_CHANNELS, MultiStageBackbone
from detectors.attribution_cnn.preprocess import training_tensor, zoom_tensor
from detectors.common.corpus_training import CorpusSet, cached_features
from detectors.common.efficientnet_lite import VARIANTS

ALL_STAGES = (0, 1, 2, 3, 4, 5, 6)
# Bump when the view or the backbone changes, so cached features are computed again.
FEATURES_VERSION = "1"
# view name -> how a stored corpus image becomes the model's input tensor
VIEWS = {"whole": training_tensor, "zoom": zoom_tensor}


def pooled_dim(variant: str = "lite0") -> int:
    """Width of one image's cached vector: every stage's channels plus the head's."""
    return sum(VARIANT_STAGE_CHANNELS[variant]) + HEAD_CHANNELS


def stage_columns(stages: Sequence[int], variant: str = "lite0") -> np.ndarray:
    """Column indices, in a cached vector, of the given stages plus the head (the backbone's order)."""
    offsets = np.cumsum((0, *VARIANT_STAGE_CHANNELS[variant]))
    cols = [np.arange(offsets[i], offsets[i + 1]) for i in stages]
    cols.append(np.arange(offsets[-1], offsets[-1] + HEAD_CHANNELS))
    return np.concatenate(cols)


@torch.inference_mode()
def pooled_features(backbone: MultiStageBackbone, batch: torch.Tensor) -> np.ndarray:
    """N x pooled_dim features of a batch of normalised crops."""
    batch = batch.to(next(backbone.parameters()).device)
    return torch.cat(backbone.all_pooled(batch), dim=1).float().cpu().numpy()


def cache_name(variant: str, size: int, view: str = "whole") -> str:
    name = f"attribution_cnn_{variant}_{size}_v{FEATURES_VERSION}"
    return name if view == "whole" else f"{name}_{view}"


def corpus_features(
    corpus: CorpusSet,
    variant: str = "lite0",
    device: torch.device | str = "cpu",
    cache_dir: Path | None = None,
    batch_size: int = 16,
    view: str = "whole",
    size: int | None = None,
) -> np.ndarray:
    """N x pooled_dim features of every corpus image through ``view`` (a key of ``VIEWS``), resized to
    ``size`` (None: the backbone's ImageNet input)."""
    size = size or VARIANTS[variant].input_size
    tensor = VIEWS[view]
    backbone: MultiStageBackbone | None = None

    def compute(images: list[Image.Image]) -> np.ndarray:
        nonlocal backbone
        if backbone is None:  # built only when something is not cached yet
            backbone = MultiStageBackbone(variant, pretrained=True).eval().to(device)
        return pooled_features(backbone, torch.stack([tensor(im, size) for im in images]))

    return cached_features(
        corpus, cache_name(variant, size, view), compute, cache_dir=cache_dir, batch_size=batch_size
    )
