"""The labelled benchmark as the meta-learner sees it: one item per file, with its split and source."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")
REQUIRED_COLUMNS = ("path", "label", "source", "scene_group", "split")


class ManifestError(ValueError):
    """The manifest is missing, lacks a column or holds a value we cannot use; names file and line."""


@dataclass(frozen=True)
class BenchmarkItem:
    """One labelled file of the benchmark."""

    path: Path  # absolute
    is_fake: bool
    source: str  # where it came from (a generator, a photo package): per-source accuracy is by this
    scene_group: str  # near-duplicates share one; cross-validation folds never split a group
    split: str  # train | val | test


def read_manifest(manifest: Path) -> list[BenchmarkItem]:
    """Every row of ``manifest`` (the layout ``make benchmark`` writes), paths resolved beside it."""
    if not manifest.is_file():
        raise ManifestError(f"{manifest} not found: build the benchmark first (`make benchmark`)")
    items = []
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{manifest} lacks the column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("real", "fake"):
                raise ManifestError(f"{manifest}:{line}: label must be real or fake, got {row['label']!r}")
            if row["split"] not in SPLITS:
                raise ManifestError(f"{manifest}:{line}: split must be one of {SPLITS}, got {row['split']!r}")
            items.append(
                BenchmarkItem(
                    path=(manifest.parent / row["path"]).resolve(),
                    is_fake=row["label"] == "fake",
                    source=row["source"],
                    scene_group=row["scene_group"],
                    split=row["split"],
                )
            )
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
