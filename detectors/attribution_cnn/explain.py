"""Grad-CAM (the ``grad-cam`` package) for the attribution network: where the AI evidence is.

The target is the "AI-generated" evidence, ``logsumexp(generator logits) - real logit``, not the
arg-max class, so the map answers the question users ask ("what looks generated here?") whether the
image was judged real or fake. The detector runs it on every crop it analyses and lays the crops'
maps over the whole image (``crop_heatmap``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pytorch_grad_cam import GradCAM

from detectors.attribution_cnn.model import AttributionNet
from detectors.common.views import Box, place_maps

# The explanation is returned at most this large; the SDK scales it over the image anyway.
HEATMAP_MAX_SIDE = 512


class FakeEvidenceTarget:
    """Grad-CAM target: log-odds of "any generator" against "real" for one output row."""

    def __init__(self, real_index: int):
        self.real_index = real_index

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        fake = torch.cat([logits[: self.real_index], logits[self.real_index + 1 :]])
        return torch.logsumexp(fake, dim=0) - logits[self.real_index]


def grad_cam(net: AttributionNet, x: torch.Tensor, real_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of N x 3 x H x W crops: (N x H x W maps, each scaled to [0, 1]; N x C logits)."""
    # The last block stage: the deepest layer that still has a spatial grid (H/32 x W/32).
    target_layer = net.backbone.blocks[-1]
    # The network's parameters are frozen (requires_grad False), so the input must ask for gradients
    # or the graph would never reach the target layer.
    x = x.detach().clone().requires_grad_(True)
    targets = [FakeEvidenceTarget(real_index)] * len(x)
    with torch.enable_grad(), GradCAM(model=net, target_layers=[target_layer]) as cam:
        heat = cam(input_tensor=x, targets=targets)
        logits = cam.outputs.detach().double().cpu().numpy()
    heat = np.nan_to_num(heat.astype(np.float64))
    peak = heat.reshape(len(heat), -1).max(axis=1)
    return heat / np.where(peak > 0, peak, 1.0)[:, None, None], logits


def crop_heatmap(
    maps: Sequence[np.ndarray],
    boxes: Sequence[Box],
    image_size: tuple[int, int],
    weights: Sequence[float] | None = None,
    max_side: int = HEATMAP_MAX_SIDE,
) -> np.ndarray:
    """Each crop's map (times its weight) laid at its box in an image-shaped map of at most ``max_side``
    px a side (``views.place_maps``: overlapping crops averaged, uncovered pixels 0), scaled so the
    peak is 1."""
    weights = [1.0] * len(maps) if weights is None else list(weights)
    scaled = [np.asarray(m, dtype=np.float32) * float(w) for m, w in zip(maps, weights, strict=True)]
    frame = place_maps(scaled, list(boxes), image_size[0], image_size[1], max_side)
    peak = float(frame.max())
    return (frame / peak if peak > 0 else frame).astype(np.float32)
