"""``manifest.csv``: one row per stored patch, written by the build. Training code reads it with
``detectors.common.data.read_manifest``; the meta-learner with ``meta_learner.dataset.read_manifest``."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class PatchRecord:
    """One stored 256x256 JPEG patch and its labels.

    ``class_name`` is what an attribution model predicts: ``real``, a generator (rare ones merged into
    ``other_ai``) or a ``sim_*`` family. ``source`` is finer: the real origin (``mvtb``, ``plasma``...)
    or the generator the file name names before merging. ``parent`` is, for a simulated fake, the path
    of the real patch it was made from.
    """

    path: str  # relative to the benchmark directory
    label: str  # real | fake
    class_name: str
    source: str
    family: str  # photo | render | ai_t2i | ai_edit | ai_custom | simulated
    origin_package: str
    origin_file: str
    scene_group: str
    split: str  # train | val | test
    jpeg_quality: int
    hard_negative: bool = False
    parent: str = ""


COLUMNS = tuple(f.name for f in fields(PatchRecord))


def write_manifest(path: Path, records: list[PatchRecord]) -> None:
    """Write records sorted by path (stable diffs between builds)."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for rec in sorted(records, key=lambda r: r.path):
            row = asdict(rec)
            row["hard_negative"] = int(rec.hard_negative)
            writer.writerow(row)
