"""A tiny benchmark in the layout ``make benchmark`` writes (manifest.csv + JPEG patches), for tests.

Classes differ by how the pixels were made, the way the real benchmark's families do: ``real`` is
smooth noise at full resolution, ``sim_nearest_conv`` is noise up-sampled 2x by pixel repetition,
``flux`` is noise up-sampled 2x bilinearly. Small enough for a training pipeline to run in seconds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

COLUMNS = ("path", "label", "source", "family", "origin_package", "origin_file", "scene_group", "split")
CLASSES = ("real", "flux", "sim_nearest_conv")


def tiny_image(kind: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """One patch of the given class."""
    if kind == "real":
        base = rng.normal(128, 40, (size, size, 3))
        return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    small = np.clip(rng.normal(128, 40, (size // 2, size // 2, 3)), 0, 255).astype(np.uint8)
    method = Image.NEAREST if kind == "sim_nearest_conv" else Image.BILINEAR
    return Image.fromarray(small).resize((size, size), method)


def make_tiny_benchmark(
    root: Path, per_class: dict[str, int] | None = None, size: int = 64, seed: int = 0
) -> Path:
    """Write patches and manifest.csv under ``root``; returns the manifest path."""
    per_class = per_class or {"train": 6, "val": 3, "test": 3}
    rng = np.random.default_rng(seed)
    rows = []
    for kind in CLASSES:
        for split, n in per_class.items():
            for i in range(n):
                rel = f"patches/{kind}/{split}_{i}.jpg"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                tiny_image(kind, rng, size).save(path, quality=95)
                label = "real" if kind == "real" else "fake"
                family = (
                    "photo" if kind == "real" else ("simulated" if kind.startswith("sim_") else "generator")
                )
                source = "tiny_photos" if kind == "real" else kind
                rows.append(
                    [rel, label, source, family, "tests", f"{kind}_{i}", f"{kind}-{split}-{i}", split]
                )
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return manifest
