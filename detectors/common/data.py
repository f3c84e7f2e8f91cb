"""The benchmark as training data: a torch Dataset over manifest rows, and augmentation and crops.

The manifest itself is read by ``benchmark.manifest.read_manifest`` (rows with their attribution
class). This module is imported by detector services too (the crops), whose images have no
benchmark/, so it imports from there only where training needs it. The stored set is deliberately
un-augmented; the training-time degradations research detectors rely on (random blur and JPEG
re-compression, as in Wang et al. 2020) are applied here, per epoch.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageFilter

if TYPE_CHECKING:
    from benchmark.manifest import PatchRow


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


class ImageDataset:
    """A torch-style map Dataset: ``(transform(image), class index)`` for each sample.

    ``transform`` turns a PIL image into whatever the model eats (usually a tensor); ``augment``
    runs first on the PIL image and is meant for the training split only.
    """

    def __init__(
        self,
        samples: Sequence[PatchRow],
        classes: Sequence[str],
        transform: Callable[[Image.Image], Any],
        augment: Callable[[Image.Image], Image.Image] | None = None,
    ):
        unknown = {s.class_name for s in samples} - set(classes)
        if unknown:
            from benchmark.manifest import ManifestError  # training only: see the module docstring

            raise ManifestError(f"samples of classes {sorted(unknown)} are not in the class list")
        self.samples = list(samples)
        self.index = {c: i for i, c in enumerate(classes)}
        self.transform = transform
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        sample = self.samples[i]
        image = load_rgb(sample.path)
        if self.augment is not None:
            image = self.augment(image)
        return self.transform(image), self.index[sample.class_name]


# ---- augmentation ---------------------------------------------------------------------------------


def jpeg_recompress(image: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG at ``quality`` and decode again (what a social network does to an upload)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as decoded:
        return decoded.convert("RGB")


def gaussian_blur(image: Image.Image, sigma: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=sigma))


def rescale(image: Image.Image, factor: float) -> Image.Image:
    """Resize by ``factor`` (bilinear with antialiasing, as most upload pipelines do)."""
    w, h = image.size
    size = (max(8, round(w * factor)), max(8, round(h * factor)))
    return image.resize(size, Image.BILINEAR)


@dataclass(frozen=True)
class Degradation:
    """Random blur / JPEG / down-scale, each applied with its own probability.

    Defaults follow Wang et al. (CNNDetection): blur sigma ~ U(0, 3) and JPEG quality ~ U(30, 100),
    here with quality 60-100 and a milder blur, because the benchmark patches are already small.
    """

    p_blur: float = 0.1
    sigma: tuple[float, float] = (0.1, 1.5)
    p_jpeg: float = 0.3
    quality: tuple[int, int] = (60, 100)
    p_rescale: float = 0.2
    scale: tuple[float, float] = (0.5, 1.0)

    def __call__(self, image: Image.Image, rng: random.Random | None = None) -> Image.Image:
        rng = rng or random
        if rng.random() < self.p_blur:
            image = gaussian_blur(image, rng.uniform(*self.sigma))
        if rng.random() < self.p_rescale:
            image = rescale(image, rng.uniform(*self.scale))
        if rng.random() < self.p_jpeg:
            image = jpeg_recompress(image, rng.randint(*self.quality))
        return image


# The degraded training view both default detectors learn from: strong enough that JPEG 60-95 and
# 0.5-1x resizes (what the robustness variants test) are common, while the clean view is kept too.
TRAINING_DEGRADATION = Degradation(p_blur=0.2, p_jpeg=0.6, quality=(60, 95), p_rescale=0.4, scale=(0.5, 1.0))


def degraded_view(image: Image.Image, rng: random.Random) -> Image.Image:
    """``TRAINING_DEGRADATION`` plus a horizontal flip half of the time."""
    image = TRAINING_DEGRADATION(image, rng)
    return image.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


def random_crop(image: Image.Image, size: int, rng: random.Random | None = None) -> Image.Image:
    """A ``size`` x ``size`` crop at a random position; smaller images are first scaled up."""
    rng = rng or random
    image = ensure_min_side(image, size)
    w, h = image.size
    left, top = rng.randint(0, w - size), rng.randint(0, h - size)
    return image.crop((left, top, left + size, top + size))


def ensure_min_side(image: Image.Image, size: int) -> Image.Image:
    """Scale up (bicubic) so the shorter side is at least ``size``; larger images are untouched."""
    w, h = image.size
    if min(w, h) >= size:
        return image
    factor = size / min(w, h)
    return image.resize((max(size, round(w * factor)), max(size, round(h * factor))), Image.BICUBIC)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` pixels, without resizing (scaled up first only if too small).

    Resizing would blur away the up-sampling traces the detectors look for, so large images are
    cropped, never shrunk.
    """
    image = ensure_min_side(image, size)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))
