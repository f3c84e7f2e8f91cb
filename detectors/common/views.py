"""How a detector looks at an image: crops of the training crop size spread over the upload.

The training corpora store one centre crop of side min(512, shorter side) per image, never resized
(benchmark/corpus.py). A model trained on those crops, each resized to its input size, sees a
512-px window of a large photo at the same scale it learned from; squashing the whole upload to the
input instead scored 0.66 ROC-AUC on unseen images where a training-matched 512-px crop scored 0.74
(issue 12). So at request time a detector takes ``count`` crops of that size spread over the image
(the centre first), prepares each exactly as in training (``model_view``) and averages the crops'
logits. Training calls the same functions with the whole stored crop as the one box.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

# The side of the crops the training corpora store (benchmark/corpus.py MAX_SIDE).
TRAINING_CROP = 512
DEFAULT_CROPS = 5
MAX_CROPS = 32
CROPS_ENV = "TRIBUNAL_CROPS"


def crops_setting(environ: Mapping[str, str] | None = None) -> int:
    """How many crops a detector analyses per image: ``TRIBUNAL_CROPS`` (1-32), default 5."""
    raw = (os.environ if environ is None else environ).get(CROPS_ENV, "").strip()
    if not raw:
        return DEFAULT_CROPS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CROPS:
        raise ValueError(f"{CROPS_ENV} must be a whole number from 1 to {MAX_CROPS}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Box:
    """A square window of the image: top-left corner and side, in pixels."""

    left: int
    top: int
    side: int

    def as_pil(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.left + self.side, self.top + self.side)


def _offsets(length: int, side: int) -> list[int]:
    """Evenly spaced window starts covering ``length`` with windows of ``side`` (first 0, last end)."""
    if length <= side:
        return [0]
    n = max(2, math.ceil(length / side))
    return sorted({round(i * (length - side) / (n - 1)) for i in range(n)})


def crop_boxes(width: int, height: int, count: int = DEFAULT_CROPS, side: int = TRAINING_CROP) -> list[Box]:
    """Up to ``count`` distinct square crops of side min(``side``, shorter side): the centre one first,
    then windows from a grid covering the image, each the farthest from those already taken (so a
    1024x1024 upload gets the centre plus its four corners, which cover every pixel, and a large photo
    gets crops spread over its whole area)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    s = min(side, width, height)
    centre = Box((width - s) // 2, (height - s) // 2, s)
    grid = [Box(x, y, s) for y in _offsets(height, s) for x in _offsets(width, s)]
    grid = [b for b in grid if b != centre]
    boxes = [centre]
    while grid and len(boxes) < count:

        def gap(b: Box) -> int:
            return min((b.left - c.left) ** 2 + (b.top - c.top) ** 2 for c in boxes)

        far = max(grid, key=gap)  # the first of equals: deterministic
        boxes.append(far)
        grid.remove(far)
    return boxes


def crops_of(image: Image.Image, boxes: list[Box]) -> list[Image.Image]:
    """The RGB pixels of each box. Cropped before converting, so only the windows are copied, never
    the whole upload once per crop (a 40 MP image is 120 MB of RGB)."""
    return [image.crop(box.as_pil()).convert("RGB") for box in boxes]


def model_view(image: Image.Image, box: Box, input_size: int) -> Image.Image:
    """The crop at ``box``, resized (bilinear, antialiased) to ``input_size`` square: what the model eats."""
    (crop,) = crops_of(image, [box])
    if crop.size == (input_size, input_size):
        return crop
    return crop.resize((input_size, input_size), Image.BILINEAR)


def whole_crop(image: Image.Image) -> Box:
    """The one box training uses: the centre square of the stored image (all of it for a corpus crop)."""
    return crop_boxes(image.width, image.height, count=1, side=max(image.size))[0]


# The closer look training adds beside each whole stored crop: its top-left square of 70 % of the side.
ZOOM_SHARE = 0.7


def zoom_crop(image: Image.Image, share: float = ZOOM_SHARE) -> Box:
    """A training augmentation: a square of ``share`` of the shorter side from the top-left corner.

    Resized to the model input like the whole crop, it shows the model the image's content about 1.4x
    larger. As extra training rows (``--augment zoom``; never a request-time view) it raised
    leave-source-out ROC-AUC at the same head (attribution 0.864 to 0.875, clip_universal 0.858 to
    0.867) but lowered it on the held-out package images sent whole (by 0.013 to 0.018), so the
    default training leaves it out (issue 12; the model cards give the figures).
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    return Box(0, 0, max(1, round(share * min(image.size))))


def place_maps(
    maps: list[np.ndarray], boxes: list[Box], width: int, height: int, max_side: int = 512
) -> np.ndarray:
    """Per-crop heat maps (each any size, covering its box) put into one image-shaped map in [0, 1].

    Overlapping crops are averaged; pixels no crop covers stay 0. The result keeps the image's aspect
    ratio and is at most ``max_side`` pixels on its longer side (the SDK scales it to the image).
    """
    scale = min(1.0, max_side / max(width, height))
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    total = np.zeros((out_h, out_w), dtype=np.float32)
    weight = np.zeros((out_h, out_w), dtype=np.float32)
    for heat, box in zip(maps, boxes, strict=True):
        x0, y0 = round(box.left * scale), round(box.top * scale)
        x1 = min(out_w, max(x0 + 1, round((box.left + box.side) * scale)))
        y1 = min(out_h, max(y0 + 1, round((box.top + box.side) * scale)))
        patch = Image.fromarray(np.asarray(heat, dtype=np.float32)).resize((x1 - x0, y1 - y0), Image.BILINEAR)
        total[y0:y1, x0:x1] += np.asarray(patch)
        weight[y0:y1, x0:x1] += 1.0
    return np.clip(np.divide(total, weight, out=np.zeros_like(total), where=weight > 0), 0.0, 1.0)
