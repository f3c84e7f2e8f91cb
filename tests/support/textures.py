"""Photo-like test images: 1/f ("pink") noise, whose statistics look alike at every scale."""

from __future__ import annotations

import numpy as np
from PIL import Image


def pink_noise(height: int, width: int, rng: np.random.Generator, contrast: float = 12.0) -> Image.Image:
    """An RGB image with a 1/f amplitude spectrum (like natural photographs), mean grey 128."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=(3, height, width)) + 1j * rng.normal(size=(3, height, width))) / f
    spectrum[:, 0, 0] = 0
    field = np.real(np.fft.ifft2(spectrum, norm="ortho")).transpose(1, 2, 0)
    return Image.fromarray(np.clip(128 + contrast * field, 0, 255).astype(np.uint8), "RGB")
