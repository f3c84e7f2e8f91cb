"""Grad-CAM for the linear probe, one map per analysed crop (placed over the image by the detector).

The target is the evidence for the verdict: the fake logit when the image is called fake, its negation
when called real. Each hooked layer's map (activations weighted by their mean gradient, rectified) is
scaled to [0, 1] and the layers are averaged, so shallow and deep stages both count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from detectors.clip_universal.encoders import LinearProbe

MAP_SIDE = 64  # resolution of each crop's map; the detector scales it over the crop's box


def probe_cam(model: LinearProbe, crops: Sequence[Image.Image], towards_fake: bool) -> list[np.ndarray]:
    """A MAP_SIDE x MAP_SIDE map in [0, 1] per square crop."""
    encoder = model.encoder
    reshape = encoder.cam_reshape()
    activations: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        activations.append(output)

    def needs_grad(_module, args):
        # The encoder is frozen: only an input that asks for gradients gives the layers any.
        return (args[0].detach().requires_grad_(True), *args[1:])

    hooks = [layer.register_forward_hook(keep) for layer in encoder.cam_layers()]
    hooks += [module.register_forward_pre_hook(needs_grad) for module in encoder.input_modules()]
    try:
        with torch.enable_grad():
            logits = model(list(crops))[:, 0]
            (logits.sum() * (1.0 if towards_fake else -1.0)).backward()
    finally:
        for hook in hooks:
            hook.remove()
    per_layer = []
    for act in activations:
        grad = act.grad
        if grad is None:
            continue
        if reshape is not None:
            act, grad = reshape(act), reshape(grad)
        cam = F.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=(MAP_SIDE, MAP_SIDE), mode="bilinear", align_corners=False)[:, 0]
        lo = cam.amin(dim=(1, 2), keepdim=True)
        hi = cam.amax(dim=(1, 2), keepdim=True)
        per_layer.append(((cam - lo) / (hi - lo).clamp_min(1e-8)).detach())
    if not per_layer:
        return [np.zeros((MAP_SIDE, MAP_SIDE), dtype=np.float32) for _ in crops]
    mean = torch.stack(per_layer).mean(dim=0).cpu().numpy().astype(np.float32)
    return [np.clip(m, 0.0, 1.0) for m in mean]
