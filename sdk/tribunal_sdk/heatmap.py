"""Turning a detector's evidence map into the PNG that /predict?explain=true returns."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

# Five anchor colours of a perceptually ordered map (dark blue → cyan → yellow → red); enough to
# read where the evidence is without pulling in matplotlib.
_ANCHORS = np.array(
    [[0.05, 0.03, 0.35], [0.0, 0.45, 0.85], [0.1, 0.85, 0.75], [0.98, 0.85, 0.1], [0.85, 0.05, 0.05]]
)


def colorize(values: np.ndarray) -> np.ndarray:
    """Map an HxW array in [0, 1] to HxWx3 uint8 colours."""
    v = np.clip(np.nan_to_num(values.astype(np.float64)), 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.floor(v).astype(int)
    hi = np.minimum(lo + 1, len(_ANCHORS) - 1)
    frac = (v - lo)[..., None]
    rgb = _ANCHORS[lo] * (1 - frac) + _ANCHORS[hi] * frac
    return (rgb * 255).astype(np.uint8)


def overlay_png(image: Image.Image, heat: np.ndarray, alpha: float = 0.5, max_side: int = 512) -> bytes:
    """Blend a [0, 1] heat map (any resolution) over the image, scaled to at most ``max_side``."""
    if heat.ndim != 2:
        raise ValueError(f"heat map must be 2-D, got shape {heat.shape}")
    # thumbnail() works in place, so it needs an image of its own; a fresh wrapper around the same
    # pixels (or the converted copy) avoids copying a full-resolution upload just to shrink it.
    image.load()
    base = image._new(image.im) if image.mode == "RGB" else image.convert("RGB")
    base.thumbnail((max_side, max_side))
    heat_img = Image.fromarray(colorize(heat)).resize(base.size, Image.BILINEAR)
    blended = Image.blend(base, heat_img, alpha)
    buf = io.BytesIO()
    blended.save(buf, format="PNG")
    return buf.getvalue()


def to_base64_png(image: Image.Image | None, heat: np.ndarray | bytes) -> str:
    """A detector's explain() output as base64 PNG: bytes pass through, arrays are overlaid."""
    if isinstance(heat, bytes):
        return base64.b64encode(heat).decode()
    if image is None:
        buf = io.BytesIO()
        Image.fromarray(colorize(heat)).save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode()
    return base64.b64encode(overlay_png(image, heat)).decode()
