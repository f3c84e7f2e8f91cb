"""Grad-CAM (the ``grad-cam`` package) for the attribution network: where the AI evidence is.

The target is the "AI-generated" evidence, ``logsumexp(generator logits) - real logit``, not the
arg-max class, so the map answers the question users ask ("what looks generated here?") whether the
image was judged real or fake.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM

from detectors.attribution_cnn.model import AttributionNet


class FakeEvidenceTarget:
    """Grad-CAM target: log-odds of "any generator" against "real" for one output row."""

    def __init__(self, real_index: int):
        self.real_index = real_index

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        fake = torch.cat([logits[: self.real_index], logits[self.real_index + 1 :]])
        return torch.logsumexp(fake, dim=0) - logits[self.real_index]


def grad_cam(net: AttributionNet, x: torch.Tensor, real_index: int) -> np.ndarray:
    """An H x W map in [0, 1] for a 1 x 3 x H x W input tensor, at the input's resolution."""
    # The last block stage: the deepest layer that still has a spatial grid (H/32 x W/32).
    target_layer = net.backbone.blocks[-1]
    # The network's parameters are frozen (requires_grad False), so the input must ask for gradients
    # or the graph would never reach the target layer.
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad(), GradCAM(model=net, target_layers=[target_layer]) as cam:
        heat = cam(input_tensor=x, targets=[FakeEvidenceTarget(real_index)])[0]
    heat = np.nan_to_num(heat.astype(np.float64))
    peak = heat.max()
    return heat / peak if peak > 0 else heat
