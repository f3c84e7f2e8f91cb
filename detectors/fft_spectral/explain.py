"""The spectral model's explanation: the image's spectrum with the band that deviates most marked.

The band is where the image's azimuthal profile lies furthest (in standard deviations) from the
profile of real training photos; it is drawn as a coloured ring over the grey log-magnitude
spectrum, so a reader sees *which frequencies* look unusual, not a region of the picture.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from detectors.fft_spectral.spectral import durall_profile, log_magnitude_spectrum

Z_THRESHOLD = 2.0  # |z| above which a radial bin counts as deviating
_HIGHLIGHT = (255, 64, 32)


@dataclass(frozen=True)
class Band:
    """A radial band in normalised radius (0 = DC, 1 = Nyquist) and its peak deviation."""

    start: float
    stop: float
    z: float


def deviating_band(profile: np.ndarray, real_mean: np.ndarray, real_std: np.ndarray) -> Band:
    """The contiguous run of bins around the largest |z| whose |z| stays above the threshold.

    With no bin above the threshold, the single most deviating bin is returned (a faint band).
    """
    z = (profile - real_mean) / np.maximum(real_std, 1e-3)
    peak = int(np.argmax(np.abs(z)))
    lo = hi = peak
    while lo > 0 and abs(z[lo - 1]) >= Z_THRESHOLD and np.sign(z[lo - 1]) == np.sign(z[peak]):
        lo -= 1
    while hi < len(z) - 1 and abs(z[hi + 1]) >= Z_THRESHOLD and np.sign(z[hi + 1]) == np.sign(z[peak]):
        hi += 1
    n = len(z) - 1
    return Band(start=lo / n, stop=hi / n, z=float(z[peak]))


def spectrum_png(gray: np.ndarray, band: Band) -> bytes:
    """Grey log spectrum (DC at the centre) with ``band`` tinted; strength grows with |z|."""
    spectrum = log_magnitude_spectrum(gray)
    lo, hi = np.percentile(spectrum, [1, 99.5])
    grey = (np.clip((spectrum - lo) / (hi - lo + 1e-8), 0, 1) * 255).astype(np.uint8)
    h, w = grey.shape
    y, x = np.indices((h, w))
    radius = np.hypot(y - h // 2, x - w // 2) / (min(h, w) // 2)
    ring = (radius >= band.start - 0.5 / (min(h, w) // 2)) & (radius <= band.stop + 0.5 / (min(h, w) // 2))
    alpha = min(0.85, 0.25 + 0.1 * abs(band.z))
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float64)
    rgb[ring] = (1 - alpha) * rgb[ring] + alpha * np.asarray(_HIGHLIGHT)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.text(
        (4, 4),
        f"deviating band r={band.start:.2f}-{band.stop:.2f} Nyquist, z={band.z:+.1f}",
        fill=(255, 255, 0),
    )
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def explain_png(gray: np.ndarray, real_mean: np.ndarray, real_std: np.ndarray) -> tuple[bytes, Band]:
    """The explanation PNG for a grayscale analysis crop, and the band it marks."""
    band = deviating_band(durall_profile(gray, len(real_mean)), real_mean, real_std)
    return spectrum_png(gray, band), band
