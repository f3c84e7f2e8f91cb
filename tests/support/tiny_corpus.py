"""A tiny labelled corpus, imported the way ``make benchmark CORPUS=...`` does, for training tests.

Real images are smooth noise at full resolution; AI images are noise up-sampled 2x (nearest or
bilinear), so a model can learn the difference in seconds. Each source holds a few images and the
import assigns whole sources to folds, as with the real corpus. CI has no shared corpus: tests use this.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.corpus import import_corpora

# (label, generator, source, how the pixels are made)
SOURCES = (
    ("real", "real", "cams/a", "real"),
    ("real", "real", "cams/b", "real"),
    ("real", "real_art", "art/c", "real"),
    ("ai", "sd1", "sd/one", "nearest"),
    ("ai", "sd2", "sd/two", "nearest"),
    ("ai", "gan", "gan/three", "bilinear"),
    ("ai", "gan", "gan/four", "bilinear"),
)


def _image(kind: str, rng: np.random.Generator, size: int) -> Image.Image:
    if kind == "real":
        return Image.fromarray(np.clip(rng.normal(128, 40, (size, size, 3)), 0, 255).astype(np.uint8))
    small = np.clip(rng.normal(128, 40, (size // 2, size // 2, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(small).resize((size, size), Image.NEAREST if kind == "nearest" else Image.BILINEAR)


def make_tiny_corpus(root: Path, per_source: int = 4, size: int = 288, folds: int = 3, seed: int = 0) -> Path:
    """Write a labelled corpus under ``root/raw`` and import it into ``root/bench/corpus``.

    Returns the imported manifest (what ``CorpusSet.load`` reads).
    """
    rng = np.random.default_rng(seed)
    raw = root / "raw"
    rows = []
    for label, generator, source, kind in SOURCES:
        for i in range(per_source):
            rel = f"{label}/{source.replace('/', '_')}_{i}.png"
            (raw / rel).parent.mkdir(parents=True, exist_ok=True)
            _image(kind, rng, size).save(raw / rel)
            rows.append({"path": rel, "label": label, "generator": generator, "source_repo": source})
    with (raw / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "generator", "source_repo"])
        writer.writeheader()
        writer.writerows(rows)
    dest = root / "bench" / "corpus"
    import_corpora([raw / "manifest.csv"], dest, folds=folds, seed=seed, min_class_images=2)
    return dest / "manifest.csv"
