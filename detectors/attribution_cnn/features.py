"""Frozen-backbone features, computed once per image view so heads train in seconds on a CPU.

For every view we keep the pooled output of all seven block stages and the 1280-d head, for the
RGB stream and (optionally) the NPR residual stream, plus optionally the stage-4 activation map that
a partial fine-tune of the later stages starts from. A head variant then picks its columns.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from detectors.attribution_cnn.model import HEAD_CHANNELS, STAGE_CHANNELS, MultiStageBackbone, npr_residual
from detectors.attribution_cnn.preprocess import prepare_image, to_tensor
from detectors.common.data import Sample, load_rgb
from detectors.common.training import progress

# The partial fine-tune trains stages after this one; its output map is cached.
FROZEN_UNTIL_STAGE = 4
POOLED_DIM = sum(STAGE_CHANNELS) + HEAD_CHANNELS


def stage_columns(stages: Sequence[int]) -> np.ndarray:
    """Column indices (within one stream's POOLED_DIM block) of the given stages plus the head."""
    offsets = np.cumsum((0, *STAGE_CHANNELS))
    cols = [np.arange(offsets[i], offsets[i + 1]) for i in stages]
    cols.append(np.arange(offsets[-1], offsets[-1] + HEAD_CHANNELS))
    return np.concatenate(cols)


def feature_columns(stages: Sequence[int], npr: bool) -> np.ndarray:
    """Columns of a FeatureSet's ``pooled`` matrix that a config with these stages / streams uses."""
    rgb = stage_columns(stages)
    return np.concatenate([rgb, rgb + POOLED_DIM]) if npr else rgb


@dataclass
class FeatureSet:
    """Features of one list of image views."""

    pooled: np.ndarray  # N x POOLED_DIM (RGB), or N x 2*POOLED_DIM (RGB then NPR)
    maps: list[np.ndarray] | None  # per view, 112 x h x w float16 stage-4 map of the RGB stream
    labels: np.ndarray  # class index per view
    sources: list[str]  # the manifest's source per view (for per-source figures)


def _forward(backbone: MultiStageBackbone, batch: torch.Tensor, npr: bool, keep_maps: bool):
    batch = batch.to(next(backbone.parameters()).device)
    h, pooled = backbone.stem_to(batch, FROZEN_UNTIL_STAGE)
    rgb = torch.cat(pooled + backbone.rest_from(h, FROZEN_UNTIL_STAGE + 1), dim=1)
    parts = [rgb]
    if npr:
        parts.append(torch.cat(backbone.all_pooled(npr_residual(batch)), dim=1))
    return torch.cat(parts, dim=1).cpu().numpy(), (h.half().cpu().numpy() if keep_maps else None)


@torch.inference_mode()
def extract(
    backbone: MultiStageBackbone,
    samples: Sequence[Sample],
    class_index: dict[str, int],
    npr: bool,
    desc: str,
    view: Callable[[Image.Image, random.Random], Image.Image] | None = None,
    seed: int = 0,
    keep_maps: bool = False,
    batch_size: int = 16,
) -> FeatureSet:
    """Features for ``view(image)`` of each sample (the clean image when ``view`` is None).

    Views may change the image size (e.g. a 0.5x resize); equal-sized crops are batched together.
    ``seed`` makes random views reproducible, per sample.
    """
    backbone.eval()
    n = len(samples)
    pooled: list[np.ndarray | None] = [None] * n
    maps: list[np.ndarray | None] = [None] * n
    pending: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}

    def flush(key: tuple[int, ...]) -> None:
        items = pending.pop(key)
        feats, fmaps = _forward(backbone, torch.stack([t for _, t in items]), npr, keep_maps)
        for row, (i, _) in enumerate(items):
            pooled[i] = feats[row]
            if fmaps is not None:
                maps[i] = fmaps[row]

    for i, sample in enumerate(progress(samples, desc=desc, total=n)):
        image = load_rgb(sample.path)
        if view is not None:
            image = view(image, random.Random(seed * 1_000_003 + i))
        tensor = to_tensor(prepare_image(image))
        key = tuple(tensor.shape)
        pending.setdefault(key, []).append((i, tensor))
        if len(pending[key]) >= batch_size:
            flush(key)
    for key in list(pending):
        flush(key)
    return FeatureSet(
        pooled=np.stack(pooled).astype(np.float32),  # type: ignore[arg-type]
        maps=maps if keep_maps else None,  # type: ignore[arg-type]
        labels=np.asarray([class_index[s.class_name] for s in samples], dtype=np.int64),
        sources=[s.source for s in samples],
    )


def concat(sets: Sequence[FeatureSet]) -> FeatureSet:
    """Stack several view sets (e.g. clean + augmented) into one training set."""
    maps = [s.maps for s in sets]
    return FeatureSet(
        pooled=np.concatenate([s.pooled for s in sets]),
        maps=[m for ms in maps for m in ms] if all(m is not None for m in maps) else None,  # type: ignore[union-attr]
        labels=np.concatenate([s.labels for s in sets]),
        sources=[src for s in sets for src in s.sources],
    )
