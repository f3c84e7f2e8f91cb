"""Self-blended images (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022).

A "fake" made from one real photo: a slightly altered copy of the image (colour, sharpness, a small
scale and shift) is blended back over the face through a soft mask. The result keeps the identity and
the scene but carries what face-swap pipelines leave behind: a blending boundary, colour and frequency
mismatch between the face and its surroundings, and a slight misalignment. A detector trained on
real-vs-self-blended pairs must look at those traces, because nothing else differs between the pair.

The paper takes the mask from 81 facial landmarks; no landmark model installs offline here, so the
mask is an ellipse fitted to the face box, deformed, eroded or dilated and blurred at random.
"""

from __future__ import annotations

import cv2
import numpy as np

from detectors.video_vit.crops import Box

# The paper's blend ratios: the altered copy is pasted at full strength half of the time.
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def altered_copy(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The source face: the image with a colour shift, a sharpness change and a small warp."""
    out = image.astype(np.float32)
    # Colour: per-channel shift and gain, then brightness/contrast (the paper's RGB/HSV jitter).
    out = out * rng.uniform(0.92, 1.08, size=3) + rng.uniform(-12, 12, size=3)
    out = (out - 128) * rng.uniform(0.9, 1.1) + 128 + rng.uniform(-10, 10)
    out = np.clip(out, 0, 255).astype(np.uint8)
    # Frequency: blur or sharpen a little.
    choice = rng.integers(3)
    if choice == 0:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    elif choice == 1:
        blurred = cv2.GaussianBlur(out, (0, 0), 1.0)
        out = cv2.addWeighted(out, 1.5, blurred, -0.5, 0)
    # Geometry: scale about the face centre and shift by a few percent of the face size.
    x, y, w, h = box
    centre = (x + w / 2, y + h / 2)
    matrix = cv2.getRotationMatrix2D(centre, 0.0, rng.uniform(0.95, 1.05))
    matrix[:, 2] += rng.uniform(-0.03, 0.03, size=2) * np.array([w, h])
    return cv2.warpAffine(out, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT_101)


def blend_mask(shape: tuple[int, ...], box: Box, rng: np.random.Generator) -> np.ndarray:
    """A soft face mask in [0, 1], HxW float32: deformed ellipse, random erosion/dilation, blur."""
    h, w = shape[:2]
    x, y, bw, bh = box
    mask = np.zeros((h, w), np.float32)
    # A Haar box spans brows to mouth; the face the landmarks would outline reaches a bit lower.
    centre = (round(x + bw / 2), round(y + bh * rng.uniform(0.5, 0.6)))
    axes = (round(bw * rng.uniform(0.38, 0.5)), round(bh * rng.uniform(0.5, 0.62)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(-8, 8)), 0, 360, 1.0, -1)
    # Elastic deformation: a smooth random displacement field of a few percent of the face.
    amplitude = 0.05 * bw
    coarse = rng.normal(0, amplitude, size=(2, 5, 5)).astype(np.float32)
    dx = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC)
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR)
    kernel_side = max(1, round(bw * rng.uniform(0.02, 0.08)))
    kernel = np.ones((kernel_side, kernel_side), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, bw * rng.uniform(0.02, 0.1)))
    peak = float(mask.max())
    return mask / peak if peak > 0 else mask


def self_blend(image: np.ndarray, box: Box, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended fake of ``image`` (BGR uint8) around the face ``box``; returns (fake, mask)."""
    source = altered_copy(image, box, rng)
    mask = blend_mask(image.shape, box, rng) * float(rng.choice(BLEND_RATIOS))
    m = mask[..., None]
    fake = source.astype(np.float32) * m + image.astype(np.float32) * (1 - m)
    return np.clip(fake + 0.5, 0, 255).astype(np.uint8), mask
