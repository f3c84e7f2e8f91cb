"""From a frame and a face box to the model's input: the published preprocessing.

Square crop around the face with a margin, isotropic resize so the longer side is 224 (INTER_AREA
down, INTER_CUBIC up), zero padding to 224x224 with the image centred, BGR channel order and raw 0-255
values as floats. The published model was trained on exactly this and is fed no normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

INPUT_SIZE = 224
# The published crops add a third of the face box on every side.
FACE_MARGIN = 1 / 3

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


def square_box(box: Box, frame_shape: tuple[int, ...], margin: float = FACE_MARGIN) -> Box:
    """A square around ``box``'s centre, ``(1 + 2 * margin)`` times its longer side, clipped to the frame.

    Near an edge the clipped region is no longer square; the isotropic resize and padding keep the
    face's proportions anyway.
    """
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    frame_h, frame_w = frame_shape[:2]
    x0 = max(0, round(cx - side / 2))
    y0 = max(0, round(cy - side / 2))
    x1 = min(frame_w, round(cx + side / 2))
    y1 = min(frame_h, round(cy + side / 2))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def crop(frame: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return frame[y : y + h, x : x + w]


def isotropic_resize(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Scale so the longer side is ``size``, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale == 1:
        return image
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (new_w, new_h), interpolation=interpolation)


def pad_to_square(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Centre ``image`` (at most size x size) on a black size x size canvas."""
    h, w = image.shape[:2]
    if h > size or w > size:
        raise ValueError(f"{w}x{h} does not fit in {size}x{size}; resize first")
    canvas = np.zeros((size, size, *image.shape[2:]), dtype=image.dtype)
    top, left = (size - h) // 2, (size - w) // 2
    canvas[top : top + h, left : left + w] = image
    return canvas


def to_input(image_bgr: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Any BGR uint8 image (a face crop or a whole frame) -> size x size BGR uint8, as published."""
    return pad_to_square(isotropic_resize(image_bgr, size), size)


def face_input(frame: np.ndarray, box: Box, size: int = INPUT_SIZE) -> np.ndarray:
    """The model input for the face at ``box`` in ``frame``."""
    return to_input(crop(frame, square_box(box, frame.shape)), size)


def to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack HxWx3 BGR uint8 images into an (N, 3, H, W) float tensor of raw 0-255 values."""
    array = np.stack(images).astype(np.float32)
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()
