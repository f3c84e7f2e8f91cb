"""Per-file measurements the checks use: container facts, sharpness/noise, perceptual hash.

These are deliberately the shortcuts a detector could take instead of learning generator traces; the
checks train a classifier on them and demand it stays near chance.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from scipy import ndimage

# Immerkaer's noise-estimation mask: a Laplacian difference that cancels smooth image structure.
_NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
HIGH_FREQ_RADIUS = 0.25  # cycles/pixel; "high frequency" is the annulus above this radius
FORMAT_CODES = {"JPEG": 0, "PNG": 1, "WEBP": 2, "BMP": 3, "TIFF": 4, "GIF": 5}


@dataclass(frozen=True)
class FileFacts:
    """What a file reveals without looking at its pixels."""

    file_size: int
    jpeg_quality: float  # estimated from the quantisation tables; -1 for non-JPEG files
    width: int
    height: int
    format: str

    def vector(self) -> list[float]:
        return [
            float(self.file_size),
            self.jpeg_quality,
            float(self.width),
            float(self.height),
            float(FORMAT_CODES.get(self.format, len(FORMAT_CODES))),
        ]


FILE_FEATURE_NAMES = ("file_size", "jpeg_quality", "width", "height", "format")
SHARPNESS_FEATURE_NAMES = ("log_laplacian_var", "high_freq_energy", "noise_sigma")


@functools.cache
def _libjpeg_tables() -> dict[tuple[int, ...], int]:
    """Luminance quantisation table -> quality, for every quality the standard IJG scaling makes."""
    tables: dict[tuple[int, ...], int] = {}
    tiny = Image.new("RGB", (8, 8), (128, 128, 128))
    for quality in range(1, 101):
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=quality)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            tables.setdefault(tuple(im.quantization[0]), quality)
    return tables


def estimate_jpeg_quality(im: Image.Image) -> float:
    """The IJG quality a JPEG was saved at, read from its luminance quantisation table.

    Exact for files written with the standard tables (all of ours); otherwise the quality whose
    standard table is nearest in mean absolute difference.
    """
    qtables = getattr(im, "quantization", None)
    if not qtables:
        return -1.0
    table = tuple(qtables[0])
    known = _libjpeg_tables()
    if table in known:
        return float(known[table])
    arr = np.asarray(table, dtype=np.float32)
    best = min(known.items(), key=lambda kv: float(np.abs(np.asarray(kv[0], dtype=np.float32) - arr).mean()))
    return float(best[1])


def file_facts(path: Path) -> FileFacts:
    """File size, JPEG quality estimate, width, height and container format of an image file."""
    with Image.open(path) as im:
        fmt = im.format or "UNKNOWN"
        quality = estimate_jpeg_quality(im) if fmt == "JPEG" else -1.0
        width, height = im.size
    return FileFacts(path.stat().st_size, quality, width, height, fmt)


def grey(rgb: np.ndarray) -> np.ndarray:
    """Luma of a uint8 RGB array as float32 in [0, 255]."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def sharpness_features(rgb: np.ndarray) -> tuple[float, float, float]:
    """(log Laplacian variance, share of spectral energy above 0.25 cycles/px, noise sigma).

    The noise sigma is Immerkaer's estimator (1996): mean absolute response to a mask that cancels
    locally planar structure, scaled to a Gaussian sigma.
    """
    g = grey(rgb)
    lap_var = float(ndimage.laplace(g).var())
    centred = g - g.mean()
    power = np.abs(np.fft.fft2(centred)) ** 2
    fy = np.fft.fftfreq(g.shape[0])[:, None]
    fx = np.fft.fftfreq(g.shape[1])[None, :]
    high = np.hypot(fy, fx) > HIGH_FREQ_RADIUS
    total = float(power.sum())
    hf = float(power[high].sum() / total) if total > 0 else 0.0
    h, w = g.shape
    response = np.abs(ndimage.convolve(g, _NOISE_MASK, mode="reflect"))[1:-1, 1:-1]
    sigma = float(response.sum() * math.sqrt(math.pi / 2) / (6 * (w - 2) * (h - 2)))
    return math.log(lap_var + 1e-6), hf, sigma


def phash64(img: Image.Image) -> int:
    """64-bit DCT perceptual hash as an int."""
    return int(str(imagehash.phash(img, hash_size=8)), 16)
