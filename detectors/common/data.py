"""The benchmark as training data: manifest rows, class lists, a torch Dataset and augmentation.

``data/benchmark/manifest.csv`` (written by ``make benchmark``) has one row per 256x256 patch with
the columns ``path, label, source, family, origin_package, origin_file, scene_group, split`` (and
``class_name``, the attribution class after rare generators are merged into ``other_ai``). The
stored set is deliberately un-augmented; the training-time degradations research detectors rely on
(random blur and JPEG re-compression, as in Wang et al. 2020) are applied here, per epoch.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from tribunal_sdk.taxonomy import ALL_CLASSES, OTHER_AI, REAL

DEFAULT_BENCHMARK = Path(__file__).resolve().parents[2] / "data" / "benchmark"
MANIFEST_COLUMNS = ("path", "label", "source", "family", "scene_group", "split")
SPLITS = ("train", "val", "test")


class ManifestError(ValueError):
    """The manifest is missing, lacks a column, or holds a value we cannot interpret."""


@dataclass(frozen=True)
class Sample:
    """One manifest row, with the class name a detector learns and the absolute image path."""

    path: Path
    label: str  # real | fake
    source: str
    family: str
    scene_group: str
    split: str
    class_name: str

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"


def class_of(label: str, source: str, family: str) -> str:
    """The attribution class of a row: ``real``, a taxonomy generator or a simulated family.

    The benchmark names the generator in ``source`` and groups it in ``family``; whichever of the two
    is a canonical taxonomy name wins, so a source finer than the taxonomy still maps to its class.
    """
    if label == "real":
        return REAL
    if label != "fake":
        raise ManifestError(f"label must be real or fake, got {label!r}")
    for name in (source, family):
        if name in ALL_CLASSES and name != REAL:
            return name
    return OTHER_AI


def read_manifest(manifest: Path, splits: Sequence[str] | None = None) -> list[Sample]:
    """Rows of ``manifest`` (optionally only the given splits), image paths resolved beside it."""
    if not manifest.is_file():
        raise ManifestError(f"{manifest} not found: build the benchmark first with `make benchmark`")
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{manifest} lacks the column(s) {', '.join(missing)}")
        samples = []
        for line, row in enumerate(reader, start=2):
            if row["split"] not in SPLITS:
                raise ManifestError(f"{manifest}:{line}: split must be one of {SPLITS}, got {row['split']!r}")
            if splits is not None and row["split"] not in splits:
                continue
            samples.append(
                Sample(
                    path=(manifest.parent / row["path"]).resolve(),
                    label=row["label"],
                    source=row["source"],
                    family=row["family"],
                    scene_group=row["scene_group"],
                    split=row["split"],
                    class_name=row.get("class_name") or class_of(row["label"], row["source"], row["family"]),
                )
            )
    return samples


def class_list(samples: Sequence[Sample]) -> list[str]:
    """The classes present, ``real`` first, then in taxonomy order (so every detector agrees)."""
    present = {s.class_name for s in samples}
    ordered = [c for c in ALL_CLASSES if c in present]
    return ordered + sorted(present - set(ordered))


def class_counts(samples: Sequence[Sample]) -> dict[str, int]:
    return dict(sorted(Counter(s.class_name for s in samples).items()))


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
        samples: Sequence[Sample],
        classes: Sequence[str],
        transform: Callable[[Image.Image], Any],
        augment: Callable[[Image.Image], Image.Image] | None = None,
    ):
        unknown = {s.class_name for s in samples} - set(classes)
        if unknown:
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
