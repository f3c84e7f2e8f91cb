"""The patch benchmark's ``manifest.csv`` (one row per stored patch): written by the build, read here.

This is the one manifest reader: detector training and the meta-learner's training read the patch
benchmark with ``read_manifest`` and an imported corpus with ``benchmark.corpus.read_imported``, and
both raise ``ManifestError``. The meta-learner's runtime (in the gateway image, which has no
benchmark/) never reads a manifest.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tribunal_home import REPO_ROOT
from tribunal_sdk.errors import TribunalError
from tribunal_sdk.taxonomy import ALL_CLASSES, OTHER_AI, REAL

# Where ``make benchmark`` writes; an imported corpus goes to its corpus/ folder.
DEFAULT_BENCHMARK = REPO_ROOT / "data" / "benchmark"
SPLITS = ("train", "val", "test")
# What a reader needs of a row; the build writes more (``COLUMNS``).
REQUIRED_COLUMNS = ("path", "label", "source", "family", "scene_group", "split")


class ManifestError(TribunalError, ValueError):
    """A manifest cannot be used: missing, lacking a column, or holding a value we cannot read.

    ``file`` and ``line`` say where when a row is at fault; the message starts with them.
    """

    status_code = 422
    code = "invalid_manifest"

    def __init__(self, message: str, file: Path | None = None, line: int | None = None) -> None:
        self.file, self.line, self.reason = file, line, message
        where = f"{file}:{line}: " if file is not None and line is not None else f"{file}: " if file else ""
        super().__init__(where + message)


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


@dataclass(frozen=True)
class PatchRow:
    """One manifest row as training reads it: the image path made absolute, and the class it learns."""

    path: Path
    label: str  # real | fake
    source: str
    family: str
    scene_group: str  # near-duplicates share one; cross-validation folds never split a group
    split: str  # train | val | test
    class_name: str

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"


def class_of(label: str, source: str, family: str) -> str:
    """The attribution class of a row: ``real``, a taxonomy generator or a simulated family.

    The benchmark names the generator in ``source`` and groups it in ``family``; whichever of the two
    is a canonical taxonomy name wins, so a source finer than the taxonomy still maps to its class.
    """
    if label == "real":
        return REAL
    if label != "fake":
        raise ManifestError(f"label must be real or fake, got {label!r}")
    for name in (source, family):
        if name in ALL_CLASSES and name != REAL:
            return name
    return OTHER_AI


def class_list(rows: Sequence[PatchRow]) -> list[str]:
    """The classes present, ``real`` first, then in taxonomy order (so every detector agrees)."""
    present = {r.class_name for r in rows}
    ordered = [c for c in ALL_CLASSES if c in present]
    return ordered + sorted(present - set(ordered))


def read_manifest(manifest: Path, splits: Sequence[str] | None = None) -> list[PatchRow]:
    """Rows of ``manifest`` (optionally only the given splits), image paths resolved beside it."""
    if not manifest.is_file():
        raise ManifestError(f"{manifest} not found: build the benchmark first (`make benchmark`)")
    rows = []
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{manifest} lacks the column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("real", "fake"):
                raise ManifestError(f"label must be real or fake, got {row['label']!r}", manifest, line)
            if row["split"] not in SPLITS:
                raise ManifestError(f"split must be one of {SPLITS}, got {row['split']!r}", manifest, line)
            if splits is not None and row["split"] not in splits:
                continue
            rows.append(
                PatchRow(
                    path=(manifest.parent / row["path"]).resolve(),
                    label=row["label"],
                    source=row["source"],
                    family=row["family"],
                    scene_group=row["scene_group"],
                    split=row["split"],
                    class_name=row.get("class_name") or class_of(row["label"], row["source"], row["family"]),
                )
            )
    return rows
