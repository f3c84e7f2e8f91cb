"""Image -> tensor for the attribution CNN.

No resizing: up-sampling traces live in the highest frequencies and any resampling would blur
them, so an image is centre-cropped to at most ``INPUT_SIZE`` pixels (the benchmark patch size) at
native resolution. The network pools globally, so smaller crops work too; only images smaller
than ``MIN_SIZE`` are scaled up. Sides are made even so the NPR residual (x - up(down(x))) lines
up pixel for pixel.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from detectors.common.data import center_crop
from detectors.common.efficientnet_lite import MEAN, STD

INPUT_SIZE = 256
MIN_SIZE = 64


def prepare_image(image: Image.Image, size: int = INPUT_SIZE) -> Image.Image:
    """The square, even-sided centre crop the model sees: min(shorter side, ``size``) pixels."""
    side = max(MIN_SIZE, min(min(image.size), size))
    side -= side % 2
    return center_crop(image.convert("RGB"), side)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 C x H x W tensor normalised with the backbone's mean/std (0.5)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    mean = np.asarray(MEAN, dtype=np.float32)
    std = np.asarray(STD, dtype=np.float32)
    return torch.from_numpy(((array - mean) / std).transpose(2, 0, 1).copy())


def preprocess(image: Image.Image, size: int = INPUT_SIZE) -> torch.Tensor:
    """``prepare_image`` then ``to_tensor``: what the detector runs on each upload."""
    return to_tensor(prepare_image(image, size))
