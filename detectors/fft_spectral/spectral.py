"""Frequency-domain features of one image (grayscale), all size-independent.

Three groups, each a published idea re-implemented here:

* Durall et al. (CVPR 2020, "Watch your up-convolution"): the log-magnitude 2-D FFT reduced to a 1-D
  azimuthal average, resampled to a fixed number of radial bins and min-max normalised.
* Frank et al. (ICML 2020, "Leveraging frequency analysis for deep fake image recognition"): the
  log-magnitude 2-D DCT; summarised here as mean log|DCT| over a grid of frequency bands, relative to
  the image's overall level (so contrast does not matter).
* Up-sampling traces that survive JPEG re-encoding (DATA.md: the azimuthal average alone falls to
  ~0.55 after resize + JPEG): peaks at the periods 2 and 4 of a 2x/4x decoder in row/column spectra
  of a high-pass residual, and the phase asymmetry of pixel differences inside vs across 2x2 cells,
  which nearest-neighbour, transposed-conv and pixel-shuffle decoders leave (cf. NPR, Tan et al. 2024).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fft import dctn

from detectors.common.data import center_crop
from detectors.common.views import crop_boxes, crops_of

ANALYSIS_SIZE = 256  # the default crop side; larger images are cropped, never resized
# Bump when a feature changes, so the training script's feature caches are computed again.
FEATURE_VERSION = 1
MIN_SIZE = 32
N_RADIAL_BINS = 48
DCT_GRID = 8
_EPS = 1e-8


def analysis_side(width: int, height: int, size: int = ANALYSIS_SIZE) -> int:
    """Side of the square analysed in a ``width`` x ``height`` image: even, at most ``size``."""
    side = max(MIN_SIZE, min(width, height, size))
    return side - side % 2


def analysis_crop(image: Image.Image, size: int = ANALYSIS_SIZE) -> Image.Image:
    """The square, even-sided centre crop that is analysed (scaled up only below MIN_SIZE)."""
    return center_crop(image.convert("RGB"), analysis_side(*image.size, size))


def luma(image: Image.Image) -> np.ndarray:
    """ITU-R BT.601 luma as float64 in [0, 255] (what JPEG keeps at full resolution)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def log_magnitude_spectrum(gray: np.ndarray) -> np.ndarray:
    """``20 log |FFT|`` with the zero frequency shifted to the centre (Durall's first step)."""
    return 20.0 * np.log(np.abs(np.fft.fftshift(np.fft.fft2(gray))) + _EPS)


def azimuthal_average(values: np.ndarray) -> np.ndarray:
    """Mean of a centred 2-D array over rings of integer radius 0 .. min(H, W) // 2 - 1."""
    h, w = values.shape
    y, x = np.indices((h, w))
    radius = np.hypot(y - h // 2, x - w // 2).astype(int)
    n = min(h, w) // 2
    inside = radius < n
    sums = np.bincount(radius[inside], weights=values[inside], minlength=n)
    counts = np.bincount(radius[inside], minlength=n)
    return sums / np.maximum(counts, 1)


def durall_profile(gray: np.ndarray, n_bins: int = N_RADIAL_BINS) -> np.ndarray:
    """The azimuthally averaged log spectrum on ``n_bins`` radii in [0, Nyquist], scaled to [0, 1]."""
    profile = azimuthal_average(log_magnitude_spectrum(gray))
    # Resample on the normalised radius so every image size gives the same vector.
    grid = np.linspace(0.0, 1.0, n_bins)
    resampled = np.interp(grid, np.linspace(0.0, 1.0, len(profile)), profile)
    lo, hi = resampled.min(), resampled.max()
    return (resampled - lo) / (hi - lo + _EPS)


def dct_band_features(gray: np.ndarray, grid: int = DCT_GRID) -> np.ndarray:
    """Mean log|DCT-II| over ``grid`` x ``grid`` frequency bands, minus the mean over all bands."""
    log_dct = np.log(np.abs(dctn(gray - gray.mean(), type=2, norm="ortho")) + 1e-3)
    h, w = log_dct.shape
    rows = np.array_split(np.arange(h), grid)
    cols = np.array_split(np.arange(w), grid)
    bands = np.array([[log_dct[np.ix_(r, c)].mean() for c in cols] for r in rows])
    return (bands - bands.mean()).ravel()


def high_pass(gray: np.ndarray) -> np.ndarray:
    """Residual after a 3x3 box blur (edge-replicated): the fine detail where decoder traces live."""
    padded = np.pad(gray, 1, mode="edge")
    h, w = gray.shape
    blur = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
    return gray - blur


def _peak_ratio(spectrum: np.ndarray, freq: float) -> float:
    """log power at normalised frequency ``freq`` (cycles/pixel) over the median of its neighbours."""
    n = len(spectrum)
    freqs = np.linspace(0.0, 0.5, n)
    k = int(np.argmin(np.abs(freqs - freq)))
    lo, hi = max(1, k - 6), min(n, k + 7)
    neighbours = np.concatenate([spectrum[lo : max(lo, k - 1)], spectrum[k + 2 : hi]])
    return (
        float(np.log(spectrum[k] + _EPS) - np.log(np.median(neighbours) + _EPS)) if neighbours.size else 0.0
    )


# Periods a 2x / 4x decoder (and JPEG's 8x8 grid, present in every patch) leave behind.
PEAK_FREQUENCIES = (0.5, 0.25, 0.125)


def periodicity_features(gray: np.ndarray) -> np.ndarray:
    """Peak-to-neighbourhood ratios at periods 2, 4 and 8 in the residual's row and column spectra."""
    residual = high_pass(gray)
    features = []
    for axis in (1, 0):  # along rows (horizontal periods), then along columns
        power = (np.abs(np.fft.rfft(residual, axis=axis)) ** 2).mean(axis=1 - axis)
        features += [_peak_ratio(power, f) for f in PEAK_FREQUENCIES]
    # The diagonal (pi, pi) point of the 2-D residual spectrum: a transposed-conv checkerboard.
    spectrum = np.abs(np.fft.fft2(residual)) ** 2
    h, w = spectrum.shape
    corner = spectrum[h // 2 - 1 : h // 2 + 2, w // 2 - 1 : w // 2 + 2].mean()
    ring = spectrum[h // 2 - 8 : h // 2 + 9, w // 2 - 8 : w // 2 + 9]
    features.append(float(np.log(corner + _EPS) - np.log(np.median(ring) + _EPS)))
    return np.asarray(features)


def phase_features(gray: np.ndarray) -> np.ndarray:
    """How unevenly pixel differences fall on the phases of a 2- and 4-pixel grid (phase-invariant).

    A 2x decoder makes the pixels inside a 2x2 cell more alike than pixels across cells; which
    phase is "inside" depends on the crop, so the absolute log ratio is used.
    """
    features = []
    for diffs in (np.abs(np.diff(gray, axis=1)), np.abs(np.diff(gray, axis=0)).T):
        per_phase2 = [diffs[:, p::2].mean() for p in range(2)]
        per_phase4 = np.array([diffs[:, p::4].mean() for p in range(4)])
        features.append(abs(np.log((per_phase2[0] + _EPS) / (per_phase2[1] + _EPS))))
        features.append(float(np.std(np.log(per_phase4 + _EPS))))
    # NPR: energy of x - nearest_up(nearest_down(x)) relative to plain neighbour differences.
    h, w = gray.shape
    even = gray[: h - h % 2, : w - w % 2]
    up = np.repeat(np.repeat(even[::2, ::2], 2, axis=0), 2, axis=1)
    npr = np.abs(even - up).mean()
    neighbour = 0.5 * (np.abs(np.diff(even, axis=0)).mean() + np.abs(np.diff(even, axis=1)).mean())
    features.append(float(np.log((npr + _EPS) / (neighbour + _EPS))))
    return np.asarray(features)


FEATURE_GROUPS = {
    "durall": N_RADIAL_BINS,
    "dct": DCT_GRID * DCT_GRID,
    "periodicity": 2 * len(PEAK_FREQUENCIES) + 1,
    "phase": 5,
}
N_FEATURES = sum(FEATURE_GROUPS.values())


def spectral_features(image: Image.Image, size: int = ANALYSIS_SIZE) -> np.ndarray:
    """The full feature vector of one image (after its analysis crop), in FEATURE_GROUPS order."""
    gray = luma(analysis_crop(image, size))
    return np.concatenate(
        [durall_profile(gray), dct_band_features(gray), periodicity_features(gray), phase_features(gray)]
    )


def crop_features(image: Image.Image, side: int, count: int) -> np.ndarray:
    """Features of each of up to ``count`` crops of ``side`` native pixels spread over the image
    (``crop_boxes``: the centre first), one row each. Training and the service both call this, so a
    crop is prepared the same way in both; nothing is resized (resampling erases decoder traces)."""
    boxes = crop_boxes(image.width, image.height, count, side=side)
    return np.stack([spectral_features(crop, side) for crop in crops_of(image, boxes)])


def group_columns(groups: tuple[str, ...]) -> np.ndarray:
    """Indices of the given feature groups in the full vector."""
    offsets, start = {}, 0
    for name, size in FEATURE_GROUPS.items():
        offsets[name] = np.arange(start, start + size)
        start += size
    return np.concatenate([offsets[g] for g in groups])
