"""Image -> tensors for the attribution CNN: square crops of the training crop size, resized to the input.

The model is trained on the imported corpus, whose images are stored as one centre crop of side
min(512, shorter side); each is fed whole, resized (bilinear) to the backbone's ImageNet input (224 px
for Lite0). At request time the detector takes several crops of that size spread over the upload
(``detectors/common/views.py``) and prepares each the same way, so it sees a large photo at the scale
it learned from. Native-resolution crops (no resize) scored worse on unseen images (issue 12).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from detectors.common.efficientnet_lite import MEAN, STD
from detectors.common.views import Box, model_view, whole_crop, zoom_crop

# Lite0's input; a Lite1 or Lite2 model uses its own (240, 260), read from the weights' config.
INPUT_SIZE = 224


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 C x H x W tensor normalised with the backbone's mean/std (0.5)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    mean = np.asarray(MEAN, dtype=np.float32)
    std = np.asarray(STD, dtype=np.float32)
    return torch.from_numpy(((array - mean) / std).transpose(2, 0, 1).copy())


def view_tensor(image: Image.Image, box: Box, size: int = INPUT_SIZE) -> torch.Tensor:
    """The crop at ``box`` as the model eats it: resized to ``size`` square, normalised."""
    return to_tensor(model_view(image, box, size))


def training_tensor(image: Image.Image, size: int = INPUT_SIZE) -> torch.Tensor:
    """What training feeds for one stored corpus image: the whole (square) crop, resized."""
    return view_tensor(image, whole_crop(image), size)


def zoom_tensor(image: Image.Image, size: int = INPUT_SIZE) -> torch.Tensor:
    """The training augmentation's view of a stored corpus image: its top-left zoom crop, resized."""
    return view_tensor(image, zoom_crop(image), size)
