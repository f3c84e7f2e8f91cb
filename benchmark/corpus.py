"""Import labelled corpora (``make benchmark CORPUS=a.csv,b.csv``) into ``data/benchmark/corpus/``.

A labelled corpus is a CSV manifest with one row per image: ``path`` (relative to the manifest's
folder), ``label`` (``real``, ``ai`` or ``fake``) and ``source_repo`` (or ``source``): where the image
came from, the unit every split keeps whole. Optional: ``generator`` (default ``real`` / ``unknown_ai``),
``generator_detail``, ``license``, ``evidence``, ``orig_format``, ``orig_width``, ``orig_height``,
``orig_bytes`` and ``sha256`` (of the file at ``path``; a file that no longer matches is reported).

Every image is stored by one rule, whatever its label: decode, EXIF orientation, RGB with transparency
composited on white, one centre crop of side min(512, shorter side), no resizing, JPEG quality 95 with
4:4:4 chroma and no metadata. A file that already is such a JPEG keeps its compressed data (a second
JPEG pass would change it); only comment segments are cut from it. Stored files are named by their
sha256, so exact duplicates collapse, and a rerun reuses every file it already stored.

Folds: group k-fold by source (``<corpus>:<source_repo>``, so two collections never share a source),
stratified by label. Training code reads the result with ``read_imported``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from benchmark.checks import CheckResult
from benchmark.manifest import DEFAULT_BENCHMARK, ManifestError
from benchmark.normalise import flatten_rgb
from tribunal_sdk.media import file_sha256
from tribunal_sdk.taxonomy import OTHER_AI, REAL, UNKNOWN_AI, family_of

DEFAULT_IMPORTED = DEFAULT_BENCHMARK / "corpus" / "manifest.csv"
DEFAULT_SEED = 1729
DEFAULT_FOLDS = 5
MIN_CLASS_IMAGES = 20
MIN_CLASS_SOURCES = 2
MAX_SIDE = 512
MIN_SIDE = 256
JPEG_QUALITY = 95
NEAR_DUPLICATE_BITS = 4
# Bump when the storage rule changes, so cached files are made again.
STORE_VERSION = "1"

LABELS = {"real": "real", "ai": "fake", "fake": "fake"}
REQUIRED_INPUT = ("path", "label", "source_repo")
SOURCE_ALIASES = ("source_repo", "source")
CACHE_NAME = ".build/store.json"


# --- the imported manifest ----------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusRow:
    """One stored image of the imported corpora (a row of ``<out>/corpus/manifest.csv``).

    ``family`` is the public generator family (``real`` for every real image); ``class_name`` is what
    an attribution model learns: the family, or ``other_ai`` for families too rare to learn. ``source``
    is ``<corpus>:<source_repo>``, the unit ``fold`` keeps whole.
    """

    path: Path  # absolute once read; relative to the manifest's folder in the file
    label: str  # real | fake
    generator: str
    family: str
    class_name: str
    source: str
    fold: int
    corpus: str
    origin_path: str
    subset: str  # faces | general
    orig_format: str
    orig_width: int
    orig_height: int
    stored_side: int
    sha256: str
    phash: str

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"


COLUMNS = tuple(f.name for f in fields(CorpusRow))
_INT_COLUMNS = ("fold", "orig_width", "orig_height", "stored_side")


def read_imported(manifest: Path = DEFAULT_IMPORTED, check_files: bool = True) -> list[CorpusRow]:
    """The rows of an imported manifest, paths made absolute; ``ManifestError`` names file and line."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ManifestError("no imported corpus here: run `make benchmark CORPUS=<manifest.csv>`", manifest)
    rows: list[CorpusRow] = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"missing column(s) {', '.join(missing)}", manifest, 1)
        for line, raw in _numbered(reader):
            values: dict[str, object] = {c: (raw.get(c) or "").strip() for c in COLUMNS}
            if not values["path"]:
                raise ManifestError("empty path", manifest, line)
            if values["label"] not in ("real", "fake"):
                raise ManifestError(f"label {values['label']!r} is not real or fake", manifest, line)
            for column in _INT_COLUMNS:
                try:
                    values[column] = int(str(values[column]))
                except ValueError:
                    raise ManifestError(
                        f"{column} {values[column]!r} is not an integer", manifest, line
                    ) from None
            path = (manifest.parent / str(values["path"])).resolve()
            if check_files and not path.is_file():
                raise ManifestError(f"image {path} is missing", manifest, line)
            values["path"] = path
            rows.append(CorpusRow(**values))  # type: ignore[arg-type]
    return rows


def _numbered(reader: csv.DictReader):
    """(line where the record starts, record); quoted fields may span lines."""
    previous = reader.line_num
    for raw in reader:
        yield previous + 1, raw
        previous = reader.line_num


# --- the input manifests ------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledRow:
    """One usable row of an input manifest."""

    corpus: str
    manifest: Path
    line: int
    origin_path: str
    file: Path
    label: str  # real | fake
    generator: str
    source: str  # <corpus>:<source_repo>
    licence: str
    orig_format: str
    orig_width: str
    orig_height: str
    expected_sha256: str


@dataclass(frozen=True)
class Problem:
    """A row left out, and why."""

    manifest: Path
    line: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.manifest}:{self.line}: {self.path or '(no path)'}: {self.reason}"


@dataclass
class CorpusInput:
    """One input manifest: its name, usable rows, and the rows it had to leave out."""

    name: str
    manifest: Path
    n_rows: int = 0
    rows: list[LabelledRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def corpus_names(manifests: Sequence[Path]) -> dict[Path, str]:
    """Each manifest's corpus name: its folder's name, made unique when two folders share one."""
    by_name: dict[str, list[Path]] = defaultdict(list)
    for m in manifests:
        by_name[m.parent.name or "corpus"].append(m)
    names: dict[Path, str] = {}
    for name, group in by_name.items():
        for i, m in enumerate(group):
            names[m] = name if len(group) == 1 else f"{name}_{m.stem}" + (f"_{i + 1}" if i else "")
    if len(set(names.values())) != len(names):  # same folder name and same file name: number them
        names = {m: f"{n}_{i + 1}" for i, (m, n) in enumerate(names.items())}
    return names


def read_labelled(manifest: Path, name: str) -> CorpusInput:
    """Read an input manifest; rows we cannot use become ``Problem``s, a missing column a ``ManifestError``."""
    if not manifest.is_file():
        raise ManifestError("manifest not found", manifest)
    result = CorpusInput(name=name, manifest=manifest)
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            source_column = next((c for c in SOURCE_ALIASES if c in header), None)
            for column in REQUIRED_INPUT:
                if column == "source_repo" and source_column is not None:
                    continue
                if column not in header:
                    accepted = " (or source)" if column == "source_repo" else ""
                    raise ManifestError(f"missing required column {column!r}{accepted}", manifest, 1)
            for line, raw in _numbered(reader):
                result.n_rows += 1
                row = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
                outcome = _labelled_row(row, manifest, line, name, str(source_column))
                (result.problems if isinstance(outcome, Problem) else result.rows).append(outcome)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"not a readable CSV file ({exc})", manifest) from None
    return result


def _labelled_row(
    row: dict[str, str], manifest: Path, line: int, corpus: str, source_column: str
) -> LabelledRow | Problem:
    path = row.get("path", "")
    if not path:
        return Problem(manifest, line, path, "empty path")
    raw_label = row.get("label", "").lower()
    if raw_label not in LABELS:
        return Problem(manifest, line, path, f"label {row.get('label', '')!r} is not real, ai or fake")
    label = LABELS[raw_label]
    source = row.get(source_column, "")
    if not source:
        return Problem(manifest, line, path, f"empty {source_column}")
    generator = row.get("generator", "") or (REAL if label == "real" else UNKNOWN_AI)
    if label == "fake" and family_of(generator) == REAL:
        return Problem(manifest, line, path, f"label ai but generator {generator!r} names real images")
    return LabelledRow(
        corpus=corpus,
        manifest=manifest,
        line=line,
        origin_path=path,
        file=manifest.parent / path,
        label=label,
        generator=generator,
        source=f"{corpus}:{source}",
        licence=row.get("license", ""),
        orig_format=row.get("orig_format", ""),
        orig_width=row.get("orig_width", ""),
        orig_height=row.get("orig_height", ""),
        expected_sha256=row.get("sha256", "").lower(),
    )


# --- storage ------------------------------------------------------------------------------------


class NotStored(Exception):
    """An input image the storage rule leaves out (unreadable, or too small).

    Outside the TribunalError tree: the import reports it as a left-out row and goes on."""


@dataclass(frozen=True)
class Stored:
    """What storing one input file made: the stored file and what the input was."""

    sha256: str
    side: int
    size: int  # stored file, bytes
    phash: str
    orig_format: str
    orig_width: int
    orig_height: int
    copied: bool  # the input's JPEG data kept (no second JPEG pass)
    comment_removed: bool = False  # ... with its JPEG comment segments cut out


def stored_relpath(sha256: str) -> str:
    return f"images/{sha256[:2]}/{sha256}.jpg"


def is_conforming_jpeg(im: Image.Image) -> bool:
    """Already stored by the rule: a square 4:4:4 RGB JPEG of side 256..512 with no metadata segment.

    JPEG comments are allowed here because ``strip_jpeg_comments`` removes them without decoding.
    """
    if im.format != "JPEG" or im.mode != "RGB":
        return False
    width, height = im.size
    if width != height or not MIN_SIDE <= width <= MAX_SIDE:
        return False
    if JpegImagePlugin.get_sampling(im) != 0:
        return False
    return all(m == "COM" or (m == "APP0" and d.startswith(b"JFIF\0")) for m, d in im.applist)


def strip_jpeg_comments(data: bytes) -> bytes:
    """The JPEG with its COM segments before the first scan removed; the compressed data untouched."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    out, i = bytearray(data[:2]), 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"bad JPEG marker at byte {i}")
        if data[i + 1] == 0xFF:  # fill byte
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            out += data[i:]
            return bytes(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            out += data[i : i + 2]
            i += 2
            continue
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker != 0xFE:
            out += data[i:end]
        i = end
    raise ValueError("JPEG without a scan")


def encode_stored(img: Image.Image) -> bytes:
    """The storage rule on a decoded, upright image: RGB, centre crop, JPEG 95 4:4:4, no metadata."""
    rgb = flatten_rgb(img)
    width, height = rgb.size
    side = min(MAX_SIDE, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # A fresh image: Pillow would otherwise write the source's JPEG comment (im.info) into the copy.
    crop = Image.fromarray(np.asarray(rgb.crop((left, top, left + side, top + side))), "RGB")
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    return buf.getvalue()


def store_image(src: Path, dest: Path) -> Stored:
    """Store one input file under ``dest/images/`` by the storage rule; ``NotStored`` says why not."""
    try:
        with Image.open(src) as im:
            im.seek(0)
            orig_format, (orig_width, orig_height) = im.format or "", im.size
            if min(orig_width, orig_height) < MIN_SIDE:
                raise NotStored(f"too small: shorter side {min(im.size)} px < {MIN_SIDE} px")
            copied, comment_removed = is_conforming_jpeg(im), False
            if copied:
                original = src.read_bytes()
                data = strip_jpeg_comments(original)
                comment_removed = data != original
            else:
                im.load()
                data = encode_stored(ImageOps.exif_transpose(im))
        with Image.open(io.BytesIO(data)) as stored:
            side = stored.size[0]
            phash = str(imagehash.phash(stored, hash_size=8))
    except NotStored:
        raise
    except Exception as exc:  # decoders raise many types (OSError, SyntaxError, DecompressionBomb...)
        raise NotStored(f"unreadable image ({type(exc).__name__}: {exc})") from None
    sha = hashlib.sha256(data).hexdigest()
    target = dest / stored_relpath(sha)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return Stored(sha, side, len(data), phash, orig_format, orig_width, orig_height, copied, comment_removed)


class _StoreCache:
    """Input file sha256 -> what storing it made (or why it was left out), in ``.build/store.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.old: dict = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            self.old = {}
        self.new: dict = {}

    def get(self, key: str) -> dict | None:
        entry = self.old.get(key)
        if entry is not None:
            self.new[key] = entry
        return entry

    def put(self, key: str, entry: dict) -> None:
        self.new[key] = entry

    def save(self) -> None:
        """Only the entries this run used: the cache stays as small as the corpora."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.new, sort_keys=True))
        os.replace(tmp, self.path)


# --- labels and folds ---------------------------------------------------------------------------


def family_for(label: str, generator: str) -> str:
    """The public family: ``real`` for every real image (``real_art`` too), else ``family_of``."""
    return REAL if label == "real" else family_of(generator)


def class_names(
    families: Sequence[str], sources: Sequence[str], min_images: int = MIN_CLASS_IMAGES
) -> dict[str, str]:
    """Family -> attribution class: AI families with too few images or sources become ``other_ai``."""
    images, source_sets = Counter(families), defaultdict(set)
    for fam, src in zip(families, sources, strict=True):
        source_sets[fam].add(src)
    return {
        fam: fam
        if fam == REAL or (images[fam] >= min_images and len(source_sets[fam]) >= MIN_CLASS_SOURCES)
        else OTHER_AI
        for fam in images
    }


def assign_folds(labels: Sequence[str], sources: Sequence[str], k: int, seed: int) -> list[int]:
    """Fold of every row: group k-fold by source, stratified by label, deterministic for a seed."""
    n_sources = len(set(sources))
    if n_sources < k:
        raise ManifestError(
            f"{n_sources} sources cannot fill {k} folds: pass --folds {max(2, n_sources)} or fewer"
        )
    y = np.asarray([int(label == "fake") for label in labels])
    folds = np.full(len(labels), -1)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    try:
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y, np.asarray(sources))):
            folds[test] = fold
    except ValueError as exc:
        raise ManifestError(f"cannot make {k} folds: {exc}") from None
    return [int(f) for f in folds]


# --- checks -------------------------------------------------------------------------------------


def fold_check(rows: Sequence[CorpusRow], k: int) -> CheckResult:
    """Gate: every source in exactly one fold. Recorded: folds lacking a label."""
    folds_of: dict[str, set[int]] = defaultdict(set)
    labels_of: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        folds_of[r.source].add(r.fold)
        labels_of[r.fold].add(r.label)
    spanning = sorted(s for s, f in folds_of.items() if len(f) > 1)
    one_label = [f for f in range(k) if len(labels_of[f]) < 2]
    summary = f"{len(folds_of)} sources, {len(spanning)} in more than one fold"
    if one_label:
        summary += f"; fold(s) {', '.join(map(str, one_label))} lack a label (too few sources to balance)"
    details: dict[str, float | int | str] = {"spanning": ", ".join(spanning[:10])} if spanning else {}
    return CheckResult("sources in one fold", not spanning, summary, details=details)


def hamming_pairs(hashes: Sequence[int], max_bits: int, block: int = 1024) -> list[tuple[int, int, int]]:
    """(i, j, distance) for i < j within ``max_bits``, in blocks so memory stays small."""
    arr = np.asarray([int(h) for h in hashes], dtype=np.uint64)
    pairs = []
    for start in range(0, len(arr), block):
        dist = np.bitwise_count(arr[start : start + block, None] ^ arr[None, :])
        for i, j in zip(*np.nonzero(dist <= max_bits), strict=True):
            if start + i < j:
                pairs.append((int(start + i), int(j), int(dist[i, j])))
    return pairs


def near_duplicate_check(rows: Sequence[CorpusRow], examples: int = 10) -> CheckResult:
    """Recorded: stored images in different folds whose pHashes are within 4 bits."""
    pairs = [
        (i, j, d)
        for i, j, d in hamming_pairs([int(r.phash, 16) for r in rows], NEAR_DUPLICATE_BITS)
        if rows[i].fold != rows[j].fold
    ]
    summary = f"{len(pairs)} cross-fold pairs within {NEAR_DUPLICATE_BITS} pHash bits"
    details: dict[str, float | int | str] = {}
    for n, (i, j, d) in enumerate(pairs[:examples]):
        a, b = rows[i], rows[j]
        details[f"example {n + 1}"] = (
            f"{a.corpus}/{a.origin_path} ({a.source}, fold {a.fold}) ~ "
            f"{b.corpus}/{b.origin_path} ({b.source}, fold {b.fold}): {d} bits"
        )
    return CheckResult(
        "near duplicates across folds", True, summary, value=len(pairs), gate=False, details=details
    )


def size_confound_check(rows: Sequence[CorpusRow], sizes: Sequence[int], seed: int) -> CheckResult:
    """Recorded: out-of-fold ROC-AUC of a small boosted classifier on stored side and file size alone."""
    x = np.asarray([[r.stored_side, s] for r, s in zip(rows, sizes, strict=True)], dtype=np.float64)
    y = np.asarray([int(r.is_fake) for r in rows])
    folds = np.asarray([r.fold for r in rows])
    scores = np.full(len(rows), np.nan)
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        if len(set(y[train])) < 2:
            continue
        model = GradientBoostingClassifier(n_estimators=100, max_depth=2, random_state=seed)
        scores[test] = model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    scored = ~np.isnan(scores)
    if len(set(y[scored])) < 2:
        return CheckResult("size confound", True, "not measurable: one label only", gate=False)
    auc = float(roc_auc_score(y[scored], scores[scored]))
    summary = (
        f"out-of-fold ROC-AUC {auc:.3f} from stored side and file size alone (0.5 = no signal). "
        "A detector must not read crop size or file size: it should see pixels at a fixed input size."
    )
    return CheckResult("size confound", True, summary, value=auc, gate=False)


# --- the import ---------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import read, stored, left out and measured (what the card is written from)."""

    dest: Path
    corpora: list[CorpusInput]
    rows: list[CorpusRow]
    problems: list[Problem]
    too_small: list[Problem]
    duplicates: list[tuple[LabelledRow, LabelledRow]]  # (dropped, kept)
    checks: list[CheckResult]
    timings: dict[str, float]
    seed: int
    folds: int
    min_class_images: int
    command: str
    licences: dict[str, str]
    reused: int = 0
    copied: int = 0
    comments_removed: int = 0
    removed: int = 0
    imported_per_corpus: dict[str, int] = field(default_factory=dict)

    @property
    def gates_passed(self) -> bool:
        return all(c.passed for c in self.checks if c.gate)


def import_corpora(
    manifests: Sequence[Path],
    dest: Path,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
    min_class_images: int = MIN_CLASS_IMAGES,
    command: str = "",
) -> ImportSummary:
    """Import the manifests into ``dest`` (``<out>/corpus``): images, manifest.csv, DATASET_CARD.md.

    Raises ``ManifestError`` when a manifest cannot be used at all; rows it cannot use are reported.
    """
    if folds < 2:
        raise ManifestError(f"--folds must be at least 2, not {folds}")
    started = time.perf_counter()
    unique = list(dict.fromkeys(Path(m).resolve() for m in manifests))
    names = corpus_names(unique)
    corpora = [read_labelled(m, names[m]) for m in unique]
    timings = {"read manifests": time.perf_counter() - started}

    t0 = time.perf_counter()
    dest.mkdir(parents=True, exist_ok=True)
    cache = _StoreCache(dest / CACHE_NAME)
    problems = [p for c in corpora for p in c.problems]
    too_small: list[Problem] = []
    stored: list[tuple[LabelledRow, Stored]] = []
    reused = 0
    for row in tqdm([r for c in corpora for r in c.rows], desc="import corpus", unit="img"):
        try:
            digest = file_sha256(row.file)
        except OSError as exc:
            reason = "file not found" if isinstance(exc, FileNotFoundError) else f"unreadable file ({exc})"
            problems.append(Problem(row.manifest, row.line, row.origin_path, reason))
            continue
        if row.expected_sha256 and row.expected_sha256 != digest:
            problems.append(
                Problem(
                    row.manifest,
                    row.line,
                    row.origin_path,
                    "file changed: its sha256 differs from the manifest's",
                )
            )
            continue
        key = f"{STORE_VERSION}:{digest}"
        entry = cache.get(key)
        if (
            entry is not None
            and "skipped" not in entry
            and (dest / stored_relpath(entry["sha256"])).is_file()
        ):
            reused += 1
        elif entry is None or "skipped" not in entry:
            try:
                entry = asdict(store_image(row.file, dest))
            except NotStored as exc:
                entry = {"skipped": str(exc)}
            cache.put(key, entry)
        if "skipped" in entry:
            bucket = too_small if entry["skipped"].startswith("too small") else problems
            bucket.append(Problem(row.manifest, row.line, row.origin_path, entry["skipped"]))
            continue
        stored.append((row, Stored(**entry)))
    cache.save()
    timings["store images"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    kept, duplicates, conflicts = _drop_duplicates(stored)
    problems += conflicts
    if not kept:
        raise ManifestError("no usable image in " + ", ".join(str(m) for m in unique))
    kept.sort(key=lambda pair: pair[1].sha256)
    families = [family_for(r.label, r.generator) for r, _ in kept]
    sources = [r.source for r, _ in kept]
    classes = class_names(families, sources, min_class_images)
    fold_of = assign_folds([r.label for r, _ in kept], sources, folds, seed)
    rows = [
        CorpusRow(
            path=Path(stored_relpath(s.sha256)),
            label=r.label,
            generator=r.generator,
            family=fam,
            class_name=classes[fam],
            source=r.source,
            fold=fold,
            corpus=r.corpus,
            origin_path=r.origin_path,
            subset="faces" if r.origin_path.replace("\\", "/").startswith("faces/") else "general",
            orig_format=r.orig_format or s.orig_format,
            orig_width=_int_or(r.orig_width, s.orig_width),
            orig_height=_int_or(r.orig_height, s.orig_height),
            stored_side=s.side,
            sha256=s.sha256,
            phash=s.phash,
        )
        for (r, s), fam, fold in zip(kept, families, fold_of, strict=True)
    ]
    timings["folds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    checks = [
        fold_check(rows, folds),
        near_duplicate_check(rows),
        size_confound_check(rows, [s.size for _, s in kept], seed),
    ]
    timings["checks"] = time.perf_counter() - t0

    write_imported(dest / "manifest.csv", rows)
    removed = _remove_unreferenced(dest, {r.sha256 for r in rows})
    licences: dict[str, str] = {}
    for r, _ in stored:
        licences.setdefault(r.source, r.licence)
    timings["total"] = time.perf_counter() - started
    summary = ImportSummary(
        dest=dest,
        corpora=corpora,
        rows=rows,
        problems=problems,
        too_small=too_small,
        duplicates=duplicates,
        checks=checks,
        timings=timings,
        seed=seed,
        folds=folds,
        min_class_images=min_class_images,
        command=command,
        licences=licences,
        reused=reused,
        copied=sum(1 for _, s in kept if s.copied),
        comments_removed=sum(1 for _, s in kept if s.comment_removed),
        removed=removed,
        imported_per_corpus=dict(Counter(r.corpus for r in rows)),
    )
    (dest / "DATASET_CARD.md").write_text(render_card(summary))
    return summary


def _int_or(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _drop_duplicates(
    stored: list[tuple[LabelledRow, Stored]],
) -> tuple[list[tuple[LabelledRow, Stored]], list[tuple[LabelledRow, LabelledRow]], list[Problem]]:
    """One row per stored file (the first given); a file labelled both real and AI is left out."""
    by_sha: dict[str, list[tuple[LabelledRow, Stored]]] = defaultdict(list)
    for pair in stored:
        by_sha[pair[1].sha256].append(pair)
    kept, duplicates, conflicts = [], [], []
    for group in by_sha.values():
        if len({r.label for r, _ in group}) > 1:
            where = ", ".join(f"{r.manifest.name}:{r.line}" for r, _ in group)
            conflicts += [
                Problem(
                    r.manifest, r.line, r.origin_path, f"the same image is labelled real and AI ({where})"
                )
                for r, _ in group
            ]
            continue
        kept.append(group[0])
        duplicates += [(r, group[0][0]) for r, _ in group[1:]]
    return kept, duplicates, conflicts


def write_imported(path: Path, rows: Sequence[CorpusRow]) -> None:
    """Write the imported manifest, rows sorted by path, ``\\n`` line ends (stable diffs)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in sorted(rows, key=lambda r: str(r.path)):
            writer.writerow([getattr(r, c) for c in COLUMNS])
    os.replace(tmp, path)


def _remove_unreferenced(dest: Path, keep: set[str]) -> int:
    """Delete stored images (and left-over temporary files) that no row refers to."""
    images = dest / "images"
    if not images.is_dir():
        return 0
    removed = 0
    for f in sorted(images.glob("*/*")):
        if f.is_file() and not (f.suffix == ".jpg" and f.stem in keep):
            f.unlink()
            removed += 1
    for d in images.iterdir():
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    return removed


# --- the card -----------------------------------------------------------------------------------


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in body]


def _by_fold(rows: Sequence[CorpusRow], key, k: int) -> list[list[object]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        counts[key(r)][r.fold] += 1
    body: list[list[object]] = [
        [name, *(c[f] for f in range(k)), sum(c.values())] for name, c in sorted(counts.items())
    ]
    totals = Counter(r.fold for r in rows)
    return [*body, ["**total**", *(totals[f] for f in range(k)), len(rows)]]


def count_tables(s: ImportSummary) -> list[tuple[str, list[str]]]:
    """(title, Markdown table) for the per-fold counts by label, family and class."""

    def head(what: str) -> list[str]:
        return [what, *(f"fold {f}" for f in range(s.folds)), "total"]

    return [
        ("label", _table(head("label"), _by_fold(s.rows, lambda r: r.label, s.folds))),
        ("class_name", _table(head("class_name"), _by_fold(s.rows, lambda r: r.class_name, s.folds))),
        ("family", _table(head("family"), _by_fold(s.rows, lambda r: r.family, s.folds))),
    ]


def render_card(s: ImportSummary) -> str:
    """The card as Markdown."""
    passed = "PASS" if s.gates_passed else "FAIL"
    lines = [
        "# Imported labelled corpora: dataset card",
        "",
        f"Built {time.strftime('%Y-%m-%d %H:%M:%S')} by `{s.command or 'benchmark.corpus.import_corpora'}` "
        f"with seed {s.seed}, {s.folds} folds and classes of at least {s.min_class_images} images from "
        f"{MIN_CLASS_SOURCES} sources. Checks: **{passed}**. Read it with `benchmark.corpus.read_imported`.",
        "",
        "Every image was stored by one rule: EXIF orientation applied, RGB (transparency on white), one centre "
        f"crop of side min({MAX_SIDE}, shorter side), no resizing, JPEG quality {JPEG_QUALITY} with 4:4:4 chroma "
        f"and no metadata. A file already stored that way keeps its JPEG data ({s.copied} of {len(s.rows)}); "
        f"only its comment segments are cut out ({s.comments_removed} files had one). Images with a shorter "
        f"side under {MIN_SIDE} px are skipped. A source is "
        "`<corpus>:<source_repo>`; every image of a source is in one fold.",
        "",
        "## Corpora",
        "",
    ]
    lines += _table(
        ["corpus", "manifest", "rows", "imported", "duplicates", "too small", "problems"],
        [
            [
                c.name,
                f"`{c.manifest}`",
                c.n_rows,
                s.imported_per_corpus.get(c.name, 0),
                sum(1 for d, _ in s.duplicates if d.corpus == c.name),
                sum(1 for p in s.too_small if p.manifest == c.manifest),
                sum(1 for p in s.problems if p.manifest == c.manifest),
            ]
            for c in s.corpora
        ],
    )
    lines += ["", "## Checks", ""]
    for c in s.checks:
        mark = ("PASS" if c.passed else "FAIL") if c.gate else "note"
        lines.append(f"- **{mark}** {c.name}{' (gate)' if c.gate else ''}: {c.summary}")
        lines += [f"  - {k}: {v}" for k, v in c.details.items()]
    for title, table in count_tables(s):
        lines += ["", f"## Images per {title} and fold", "", *table]
    by_source: dict[str, list[CorpusRow]] = defaultdict(list)
    for r in s.rows:
        by_source[r.source].append(r)
    lines += ["", "## Sources", ""]
    lines += _table(
        ["source", "label", "fold", "images", "classes", "licence as stated"],
        [
            [
                src,
                "/".join(sorted({r.label for r in rs})),
                rs[0].fold,
                len(rs),
                ", ".join(f"{k} {n}" for k, n in sorted(Counter(r.class_name for r in rs).items())),
                s.licences.get(src) or "-",
            ]
            for src, rs in sorted(by_source.items())
        ],
    )
    lines += ["", "## Left out", ""]
    lines.append(f"- {len(s.duplicates)} exact duplicates (same stored file) kept once")
    lines += [
        f"  - {d.manifest.name}:{d.line} {d.origin_path} = {k.manifest.name}:{k.line} {k.origin_path}"
        for d, k in s.duplicates[:10]
    ]
    for title, items in (("too small", s.too_small), ("problem rows", s.problems)):
        lines.append(f"- {len(items)} {title}")
        lines += [f"  - {p}" for p in items[:200]]
        if len(items) > 200:
            lines.append(f"  - ... and {len(items) - 200} more")
    lines += ["", "## Timings", ""]
    lines += [f"- {name}: {sec:.1f} s" for name, sec in s.timings.items()]
    lines.append(
        f"- {s.reused} images reused from an earlier run; {s.removed} stored files no row refers to removed"
    )
    return "\n".join(lines) + "\n"


def summary_lines(s: ImportSummary) -> list[str]:
    """What the command prints: counts, checks and where things went."""
    corpora = f"{len(s.corpora)} corpus" if len(s.corpora) == 1 else f"{len(s.corpora)} corpora"
    out = [f"{len(s.rows)} images from {corpora} in {s.dest} ({s.timings['total']:.0f} s)"]
    for c in s.corpora:
        out.append(
            f"  {c.name}: {c.n_rows} rows, {s.imported_per_corpus.get(c.name, 0)} imported ({c.manifest})"
        )
    out.append(
        f"  left out: {len(s.duplicates)} exact duplicates, {len(s.too_small)} too small, {len(s.problems)} problem rows"
    )
    for title, table in count_tables(s):
        out += ["", f"per {title}:", *table]
    sources = Counter(r.fold for r in {r.source: r for r in s.rows}.values())
    out += ["", "sources per fold: " + ", ".join(f"fold {f}: {sources[f]}" for f in range(s.folds)), ""]
    for c in s.checks:
        mark = ("PASS" if c.passed else "FAIL") if c.gate else "note"
        out.append(f"{mark:4s} {c.name}: {c.summary}")
    for p in [*s.too_small, *s.problems][:20]:
        out.append(f"  skipped {p}")
    out.append(f"card: {s.dest / 'DATASET_CARD.md'}")
    return out
