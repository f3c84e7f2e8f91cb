"""The one normalisation pipeline every benchmark image goes through, whatever its label.

Why it exists: the AI stills we can get offline are small WebP thumbnails and the real photos are
large JPEGs and PNGs, so a detector trained on the raw files learns the codec and the size. Every
image therefore takes the same road here:

1. decode, first frame only, EXIF orientation applied, transparency composited onto white;
2. near-black / near-white letterbox bars trimmed (applies to every image; only a few AI stills have them);
3. a random square region is resampled (Lanczos) to 256 x 256. The region's size follows one rule for
   every image: a target shorter side T is drawn uniformly from [256, T_max] with
   T_max = min(512, max(256, 0.8 * shorter side)), so every image is downscaled (by at least 1.25x,
   except the few with a shorter side under 320) and none is upscaled. The 512 cap keeps a patch
   showing a good part of its scene, as the AI previews do, rather than a zoomed-in wall;
4. crops that are almost flat (luminance std < 6) are redrawn, for every label alike;
5. JPEG re-encode with a quality drawn uniformly from [70, 95], 4:2:0 chroma, no EXIF/ICC/comments.

The original format, size and metadata therefore never reach the output. Augmentations that detectors
rely on (blur, extra JPEG) belong in training code, not in the stored set.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

PATCH_SIZE = 256
JPEG_QUALITY_RANGE = (70, 95)  # inclusive
MAX_TARGET_SHORT = 512
MIN_DOWNSCALE = 1.25
# A source must keep at least this shorter side (after curation crops) to be resampled by >= 1.125x.
MIN_SOURCE_SHORT = 288
MIN_PATCH_STD = 6.0
CROP_RETRIES = 8
# Bars at an image border count as letterboxing when this dark or this bright and this uniform.
_BAR_DARK, _BAR_BRIGHT, _BAR_STD = 24.0, 235.0, 6.0

Box = tuple[float, float, float, float]


class SourceTooSmall(ValueError):
    """The source's shorter side is under MIN_SOURCE_SHORT once curated and trimmed.

    Outside the TribunalError tree: the build skips that source and says so."""


@dataclass(frozen=True)
class CropPlan:
    """Where one patch comes from: a square region of the (trimmed) source and its JPEG quality."""

    index: int
    box: Box
    target_short: int
    quality: int


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from the parts, stable across runs and Python processes."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def flatten_rgb(img: Image.Image) -> Image.Image:
    """RGB, transparent areas composited onto white (the one rule for alpha in every stored image)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: Path, content_box: Box | None = None) -> Image.Image:
    """Decode an image file to RGB: first frame, EXIF orientation, alpha over white, curation crop.

    ``content_box`` is a crop in fractions of width/height (x0, y0, x1, y1) that a source's curation
    asks for, e.g. to cut a vendor logo badge off the top of an API preview.
    """
    with Image.open(path) as im:
        im.seek(0)
        rgb = flatten_rgb(ImageOps.exif_transpose(im))
    if content_box is not None:
        w, h = rgb.size
        x0, y0, x1, y1 = content_box
        rgb = rgb.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
    return trim_letterbox(rgb)


def trim_letterbox(img: Image.Image) -> Image.Image:
    """Cut uniform near-black or near-white bars off the borders (letterboxing in some AI previews)."""
    grey = np.asarray(img.convert("L"), dtype=np.float32)

    def is_bar(line: np.ndarray) -> bool:
        mean = float(line.mean())
        return float(line.std()) <= _BAR_STD and (mean <= _BAR_DARK or mean >= _BAR_BRIGHT)

    h, w = grey.shape
    top, bottom, left, right = 0, h, 0, w
    while top < bottom - 1 and is_bar(grey[top, left:right]):
        top += 1
    while bottom - 1 > top and is_bar(grey[bottom - 1, left:right]):
        bottom -= 1
    while left < right - 1 and is_bar(grey[top:bottom, left]):
        left += 1
    while right - 1 > left and is_bar(grey[top:bottom, right - 1]):
        right -= 1
    if (top, bottom, left, right) == (0, h, 0, w):
        return img
    return img.crop((left, top, right, bottom))


def n_crops_for(width: int, height: int) -> int:
    """How many patches to take from a source: about 3.5 per 256-px of its geometric-mean side.

    The same rule for every label: a 400 px AI preview gives 5, a 1920x2880 photo 33 (capped at 40).
    More than are kept: complexity matching (balance.py) drops some of them.
    """
    return int(min(40, max(2, round(3.5 * math.sqrt(width * height) / PATCH_SIZE))))


def max_target_short(short_side: int) -> int:
    """The largest shorter side an image may be resampled to (never upscaled, >= 1.25x down)."""
    return int(min(MAX_TARGET_SHORT, max(PATCH_SIZE, math.floor(short_side / MIN_DOWNSCALE))))


def draw_crop(width: int, height: int, index: int, rng: np.random.Generator) -> CropPlan:
    """Draw one crop under the shared resize rule (see the module docstring)."""
    short = min(width, height)
    if short < MIN_SOURCE_SHORT:
        raise SourceTooSmall(f"shorter side {short} px < {MIN_SOURCE_SHORT} px")
    target = int(rng.integers(PATCH_SIZE, max_target_short(short) + 1))
    side = PATCH_SIZE * short / target  # region side in source pixels that maps onto 256 output pixels
    x0 = float(rng.uniform(0, width - side))
    y0 = float(rng.uniform(0, height - side))
    quality = int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))
    return CropPlan(index=index, box=(x0, y0, x0 + side, y0 + side), target_short=target, quality=quality)


def render_crop(img: Image.Image, box: Box) -> np.ndarray:
    """Resample a square region of ``img`` to a 256x256 uint8 RGB array (the pre-JPEG patch)."""
    patch = img.resize((PATCH_SIZE, PATCH_SIZE), Image.Resampling.LANCZOS, box=box)
    return np.asarray(patch, dtype=np.uint8)


def is_flat(patch: np.ndarray) -> bool:
    """True when a patch carries almost no content (a blank wall, a flat colour field)."""
    luma = patch.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float(luma.std()) < MIN_PATCH_STD


def plan_and_render(img: Image.Image, seed: int) -> list[tuple[CropPlan, np.ndarray]]:
    """All patches of one source: n_crops_for() crops, each redrawn while flat (up to 8 tries).

    Deterministic for a given image and seed. A crop that stays flat after all tries is skipped.
    """
    rng = np.random.default_rng(seed)
    width, height = img.size
    out: list[tuple[CropPlan, np.ndarray]] = []
    for index in range(n_crops_for(width, height)):
        for _ in range(CROP_RETRIES):
            plan = draw_crop(width, height, index, rng)
            patch = render_crop(img, plan.box)
            if not is_flat(patch):
                out.append((plan, patch))
                break
    return out


REFERENCE_QUALITY = 85


def complexity(patch: np.ndarray) -> int:
    """Bytes of the patch as a JPEG at a fixed quality: how much detail it holds (for balance.py)."""
    return len(encode_jpeg(patch, REFERENCE_QUALITY))


def encode_jpeg(patch: np.ndarray, quality: int) -> bytes:
    """Encode a uint8 RGB patch as a baseline JPEG with no metadata at all."""
    buf = io.BytesIO()
    # Fixed 4:2:0 subsampling and baseline coding so only the quality varies between files.
    Image.fromarray(patch, "RGB").save(buf, "JPEG", quality=quality, subsampling=2, optimize=False)
    return buf.getvalue()
