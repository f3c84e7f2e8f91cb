"""Complexity matching between real photo patches and AI-image patches.

Even after the shared pipeline, the classes differ in content: AI previews are busy, evenly detailed
scenes, while photos have many plain regions (walls, sky, bokeh). Plain patches compress to small
JPEGs, so file size alone (with the quality estimate) separated the classes at ROC-AUC ~0.70 in the
first full build, and a detector could learn "plain = real" just as well. So the build keeps, in
every bin of detail (bytes of the patch as a JPEG at quality 85), the same real-to-AI ratio: the
surplus side in a bin loses patches at random (seeded). Bins are deciles of the pooled values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_BINS = 10


def match_complexity(
    real: Sequence[float], fake: Sequence[float], seed: int, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Masks (keep_real, keep_fake) that give both sides the same distribution over complexity bins.

    The target ratio is the overall real:fake ratio; in each bin the side above it is subsampled.
    """
    real_arr = np.asarray(real, dtype=np.float64)
    fake_arr = np.asarray(fake, dtype=np.float64)
    keep_real = np.zeros(len(real_arr), dtype=bool)
    keep_fake = np.zeros(len(fake_arr), dtype=bool)
    if len(real_arr) == 0 or len(fake_arr) == 0:
        return ~keep_real, ~keep_fake
    pooled = np.concatenate([real_arr, fake_arr])
    edges = np.quantile(pooled, np.linspace(0, 1, n_bins + 1)[1:-1])
    real_bin = np.searchsorted(edges, real_arr, side="right")
    fake_bin = np.searchsorted(edges, fake_arr, side="right")
    ratio = len(real_arr) / len(fake_arr)
    rng = np.random.default_rng(seed)
    for b in range(n_bins):
        r_idx = np.flatnonzero(real_bin == b)
        f_idx = np.flatnonzero(fake_bin == b)
        n_real = min(len(r_idx), round(ratio * len(f_idx)))
        n_fake = min(len(f_idx), round(len(r_idx) / ratio))
        keep_real[rng.choice(r_idx, n_real, replace=False)] = True
        keep_fake[rng.choice(f_idx, n_fake, replace=False)] = True
    return keep_real, keep_fake
