"""The pixel pipeline of UniversalFakeDetect: CenterCrop 224 with no resize, then per-backbone mean/std.

Ojha et al. evaluate on the centre 224x224 pixels of each image, never resizing it, because resampling
would blur or add exactly the high-frequency traces a fake detector keys on. We keep that, and use
torchvision's ``center_crop`` as the paper's pipeline does, which also fixes what happens to an image
smaller than 224 on a side: it is zero-padded (black) to 224, centred. We keep that too rather than
upsampling (interpolation adds its own artefacts); the detector warns when it happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchvision.transforms.functional as TF
from PIL import Image

CROP_SIZE = 224

# OpenAI CLIP's normalisation (open_clip.constants.OPENAI_DATASET_MEAN / _STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class CropBox:
    """Where the 224x224 crop sits in the original image (negative offsets: padding)."""

    left: int
    top: int
    size: int = CROP_SIZE


def crop_box(width: int, height: int, size: int = CROP_SIZE) -> CropBox:
    """The crop torchvision's ``center_crop`` takes, in original-image coordinates.

    Larger sides: offset ``round((side - size) / 2)`` (Python rounds halves to even, as torchvision does). Smaller sides: torchvision pads
    ``(size - side) // 2`` pixels before the image, i.e. the image starts at that offset in the crop.
    """
    left = round((width - size) / 2.0) if width >= size else -((size - width) // 2)
    top = round((height - size) / 2.0) if height >= size else -((size - height) // 2)
    return CropBox(left, top, size)


def is_padded(image: Image.Image, size: int = CROP_SIZE) -> bool:
    """True when the crop needs padding, i.e. part of the model's input is black border, not image."""
    return image.width < size or image.height < size


def center_crop(image: Image.Image, size: int = CROP_SIZE) -> Image.Image:
    """The centre ``size`` x ``size`` pixels, no resize; zero-padded where the image is smaller."""
    return TF.center_crop(image.convert("RGB"), [size, size])


def to_model_input(
    images: Sequence[Image.Image], mean: Sequence[float], std: Sequence[float], size: int = CROP_SIZE
) -> torch.Tensor:
    """A batch [N, 3, size, size] float32: centre crop, scale to [0, 1], normalise."""
    tensors = [TF.normalize(TF.to_tensor(center_crop(img, size)), list(mean), list(std)) for img in images]
    return torch.stack(tensors)
