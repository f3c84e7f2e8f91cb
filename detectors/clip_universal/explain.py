"""Grad-CAM for the linear probe, mapped back from the 224x224 crop onto the whole image."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM

from detectors.clip_universal.encoders import LinearProbe
from detectors.clip_universal.preprocessing import crop_box

# The heat map is returned at most this large on its longer side; the SDK scales it to the image anyway.
_MAX_SIDE = 512


class _SignedLogit:
    """Grad-CAM target: the fake logit, negated when explaining a 'real' verdict."""

    def __init__(self, sign: float):
        self.sign = sign

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return self.sign * output[..., 0]


def probe_cam(model: LinearProbe, batch: torch.Tensor, towards_fake: bool) -> np.ndarray:
    """Grad-CAM over the encoder's CAM layers for one input [1, 3, S, S]; an SxS map in [0, 1].

    The target is the evidence for the verdict: the fake logit when the image is called fake, its
    negation when called real. Several layers are averaged after each is scaled to [0, 1].
    """
    encoder = model.encoder
    # The encoder is frozen, so the hooked layers get gradients only if the input asks for them.
    batch = batch.detach().clone().requires_grad_(True)
    with (
        torch.enable_grad(),
        GradCAM(
            model=model, target_layers=encoder.cam_layers(), reshape_transform=encoder.cam_reshape()
        ) as cam,
    ):
        heat = cam(input_tensor=batch, targets=[_SignedLogit(1.0 if towards_fake else -1.0)])
    return np.clip(heat[0], 0.0, 1.0).astype(np.float32)


def place_in_image(crop_heat: np.ndarray, image: Image.Image) -> np.ndarray:
    """The crop's map placed where the crop came from; parts of the image the model never saw stay 0.

    Padding (images smaller than the crop) is cut away. The result keeps the image's aspect ratio and
    is at most ``_MAX_SIDE`` pixels on its longer side, so a huge photo never gets a huge float map.
    """
    width, height = image.size
    box = crop_box(width, height, crop_heat.shape[0])
    # The part of the crop that is image, not padding: in image coordinates, then in crop coordinates.
    x0, y0 = max(box.left, 0), max(box.top, 0)
    x1, y1 = min(box.left + box.size, width), min(box.top + box.size, height)
    window = crop_heat[y0 - box.top : y1 - box.top, x0 - box.left : x1 - box.left]
    scale = min(1.0, _MAX_SIDE / max(width, height))
    out = np.zeros((max(1, round(height * scale)), max(1, round(width * scale))), dtype=np.float32)
    sx0, sy0 = round(x0 * scale), round(y0 * scale)
    sx1, sy1 = max(sx0 + 1, round(x1 * scale)), max(sy0 + 1, round(y1 * scale))
    if (sx1 - sx0, sy1 - sy0) != (window.shape[1], window.shape[0]):
        window = np.asarray(Image.fromarray(window).resize((sx1 - sx0, sy1 - sy0), Image.BILINEAR))
    out[sy0:sy1, sx0:sx1] = window[: out.shape[0] - sy0, : out.shape[1] - sx0]
    return out
