"""The labelled data as the meta-learner sees it: one item per file, with its source and split or fold.

Two layouts are read, each by benchmark/'s reader of it (which raises ``ManifestError``):

- an imported labelled corpus (``make benchmark CORPUS=...``, benchmark/corpus.py): every image has a
  leave-source-out ``fold`` (all images of a source in one fold), a generator ``family`` and the
  ``sha256`` of the stored file. The stacker is cross-validated over those folds (crossval.py).
- the patch benchmark (``make benchmark`` without a corpus): ``train``/``val``/``test`` splits and scene
  groups (train.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from benchmark import corpus
from benchmark import manifest as patches
from benchmark.manifest import ManifestError
from meta_learner import paths


@dataclass(frozen=True)
class BenchmarkItem:
    """One labelled file of the benchmark."""

    path: Path  # absolute
    is_fake: bool
    source: str  # where it came from (a generator, a photo package): per-source accuracy is by this
    scene_group: str  # near-duplicates share one; cross-validation folds never split a group
    split: str  # train | val | test; empty for an imported corpus (it has folds instead)
    fold: int | None = None  # imported corpus: the leave-source-out fold its source sits in
    family: str = ""  # imported corpus: public generator family (``real`` for real images)
    sha256: str = ""  # imported corpus: sha256 of the stored file, the bytes the detectors are sent


def default_manifest(media_type: str) -> Path:
    """What ``make retrain`` learns from: for images the imported corpus when there is one, else the
    patch benchmark; for video the video benchmark."""
    if media_type == "image" and corpus.DEFAULT_IMPORTED.is_file():
        return corpus.DEFAULT_IMPORTED
    return paths.DEFAULT_MANIFESTS[media_type]


def is_corpus_manifest(manifest: Path) -> bool:
    """True for an imported corpus manifest (it has ``fold`` and ``sha256`` columns), False otherwise."""
    try:
        with manifest.open(newline="") as fh:
            header = next(csv.reader(fh), [])
    except (FileNotFoundError, IsADirectoryError):
        return False
    return {"fold", "sha256", "source", "family"} <= set(header)


def read_corpus(manifest: Path, check_files: bool = True) -> list[BenchmarkItem]:
    """Every image of an imported corpus manifest, read by the import's own reader."""
    rows = corpus.read_imported(manifest, check_files=check_files)
    if not rows:
        raise ManifestError(f"{manifest} has no rows")
    return [
        BenchmarkItem(
            path=row.path,
            is_fake=row.is_fake,
            source=row.source,
            scene_group=row.source,  # the unit nothing may straddle is the source itself
            split="",
            fold=row.fold,
            family=row.family,
            sha256=row.sha256,
        )
        for row in rows
    ]


def read_manifest(manifest: Path) -> list[BenchmarkItem]:
    """Every row of ``manifest`` (the layout ``make benchmark`` writes), paths resolved beside it."""
    items = [
        BenchmarkItem(
            path=row.path,
            is_fake=row.is_fake,
            source=row.source,
            scene_group=row.scene_group,
            split=row.split,
        )
        for row in patches.read_manifest(manifest)
    ]
    if not items:
        raise ManifestError(f"{manifest} has no rows")
    return items


def training_data_hash(items: list[BenchmarkItem], shas: list[str], fingerprints: dict[str, str]) -> str:
    """sha256 over what a model was trained from: each file's content hash, label, split and scene
    group, and the detector fingerprints whose answers became its features."""
    rows = sorted(
        (sha, int(item.is_fake), item.split, item.scene_group) for item, sha in zip(items, shas, strict=True)
    )
    payload = json.dumps(
        {"rows": rows, "detectors": dict(sorted(fingerprints.items()))}, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def corpus_training_hash(items: list[BenchmarkItem], answers: dict[str, str]) -> str:
    """sha256 over what a model was trained from on an imported corpus: each image's sha256, label,
    fold and source, and per detector where its answers came from (fingerprint, out-of-fold file)."""
    rows = sorted((item.sha256, int(item.is_fake), item.fold, item.source) for item in items)
    payload = json.dumps({"rows": rows, "detectors": dict(sorted(answers.items()))}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
