"""``/detect`` end to end through the real local stack (issue 12): latency and the PNG/JPEG format gap.

The stack is started the way ``make start`` starts it (scripts/local_stack.py): the gateway and every
enabled image detector of config/detectors.yaml, each its own process (on free ports, from a temporary
copy of the registry), with the CPU threads ``make start`` gives each detector. Detection is opened as
the gateway bench does (``TRIBUNAL_AUTH_REQUIRED=false``, history in a temporary folder) and
``TRIBUNAL_DETECT_PER_MINUTE`` is raised so the bench is never throttled.

1. Latency: a 1024x1024 upload (a stored corpus crop resized, else a generated texture) sent to
   ``POST /detect`` with the default method, one request at a time: p50, p90 and mean after a warm-up,
   and each detector's round trip from the answers' ``detectors[].elapsed_ms``. Target: p50 ≤ 1.0 s.
   The stack is restarted with ``TRIBUNAL_CROPS`` = 3 and 1 for comparison.
2. Format gap: up to 100 stored corpus crops, each sent as lossless PNG and as JPEG q95 of the same
   pixels; mean and max |difference| of the fused ``score_fake`` and of each detector's ``prob_fake``.
   Target: mean ≤ 0.05.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from gateway.registry import load_registry
from scripts.bench.load import process_cpu_seconds
from scripts.bench.report import load_note
from scripts.local_stack import LocalStack, StackError, free_port
from tribunal_home import REPO_ROOT

REGISTRY = REPO_ROOT / "config" / "detectors.yaml"
CORPUS_MANIFEST = REPO_ROOT / "data" / "benchmark" / "corpus" / "manifest.csv"
SIDE = 1024
LATENCY_TARGET_MS = 1000.0
GAP_TARGET = 0.05
JPEG_QUALITY = 95
# Far above the ~300 detections a run sends within a few minutes (the default is 30 per user and minute).
DETECT_PER_MINUTE = 100_000
FUSED = "fused score_fake"
# Above this share of the machine used by processes outside the bench, its latencies are not its own.


@dataclass(frozen=True)
class DetectPlan:
    """How much to measure: ``requests`` timed uploads after ``warmup`` at the default crop count, then
    ``compare_requests`` at each of ``compare_crops`` (a stack restart each); ``gap_images`` pairs."""

    requests: int = 30
    warmup: int = 3
    compare_crops: Sequence[int] = (3, 1)
    compare_requests: int = 15
    gap_images: int = 100
    start_timeout_s: float = 600.0


# ---- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p90: float
    mean: float


def summarize(values: Sequence[float]) -> Summary:
    mean = sum(values) / len(values) if values else float("nan")
    return Summary(len(values), percentile(values, 50), percentile(values, 90), mean)


@dataclass
class LatencyRun:
    """The answers of one series of ``/detect`` calls, one at a time."""

    label: str
    client_ms: list[float] = field(default_factory=list)  # wall time of the HTTP call, as a client sees it
    gateway_ms: list[float] = field(default_factory=list)  # the answer's own elapsed_ms
    detector_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter] = field(default_factory=dict)
    crops: dict[str, Counter] = field(default_factory=dict)  # details.crops each detector reported
    methods: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def add(self, answer: dict[str, Any], client_ms: float) -> None:
        self.client_ms.append(client_ms)
        self.gateway_ms.append(float(answer["elapsed_ms"]))
        self.methods[answer.get("method", "?")] += 1
        for d in answer.get("detectors", []):
            name = d["name"]
            self.statuses.setdefault(name, Counter())[d["status"]] += 1
            if d.get("elapsed_ms") is not None:
                self.detector_ms.setdefault(name, []).append(float(d["elapsed_ms"]))
            crops = (d.get("details") or {}).get("crops")
            if crops is not None:
                self.crops.setdefault(name, Counter())[int(crops)] += 1

    @property
    def total(self) -> Summary:
        return summarize(self.client_ms)


@dataclass(frozen=True)
class GapStats:
    """|PNG - JPEG| of one score over the pairs where both answers had it."""

    n: int
    mean: float
    max: float
    over: int  # pairs with a gap above GAP_TARGET
    signed_mean: float  # mean of JPEG - PNG: the direction of the shift
    missing: int  # pairs left out: a side abstained, failed or was not asked


def _scores(answer: dict[str, Any]) -> dict[str, float | None]:
    scores: dict[str, float | None] = {FUSED: answer.get("score_fake")}
    for d in answer.get("detectors", []):
        scores[d["name"]] = d.get("prob_fake") if d.get("status") == "ok" else None
    return scores


def format_gaps(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, GapStats]:
    """Per score (the fused one first, then each detector's), the gap between the (PNG, JPEG) answers."""
    diffs: dict[str, list[float]] = {FUSED: []}
    missing: Counter = Counter()
    for png, jpeg in pairs:
        a, b = _scores(png), _scores(jpeg)
        for name in dict.fromkeys([*a, *b]):
            diffs.setdefault(name, [])
            if a.get(name) is None or b.get(name) is None:
                missing[name] += 1
            else:
                diffs[name].append(float(b[name]) - float(a[name]))  # type: ignore[arg-type]
    out = {}
    for name, d in diffs.items():
        gaps = [abs(x) for x in d]
        out[name] = GapStats(
            n=len(d),
            mean=sum(gaps) / len(gaps) if gaps else float("nan"),
            max=max(gaps, default=float("nan")),
            over=sum(g > GAP_TARGET for g in gaps),
            signed_mean=sum(d) / len(d) if d else float("nan"),
            missing=missing[name],
        )
    return out


# ---- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapImage:
    name: str  # sha256 prefix or "generated-<i>"
    label: str  # real | fake | generated
    pixels: Image.Image


def _corpus_rows(manifest: Path) -> list[dict[str, str]]:
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if (manifest.parent / r["path"]).is_file()]


def _texture(side: int, seed: int) -> Image.Image:
    """A photo-like texture: smooth fields at several scales plus fine grain, per channel."""
    rng = np.random.default_rng(seed)
    out = np.zeros((side, side, 3))
    for cells, amplitude in ((4, 70.0), (16, 35.0), (64, 18.0), (side // 2, 8.0)):
        field_ = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
        up = [
            np.asarray(Image.fromarray(field_[..., c]).resize((side, side), Image.BICUBIC)) for c in range(3)
        ]
        out += amplitude * np.stack(up, -1)
    out += rng.normal(0, 3, out.shape)
    return Image.fromarray(np.clip(out + 128, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` as lossless PNG or as JPEG q95 (Pillow's defaults otherwise: 4:2:0 chroma, no metadata)."""
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG")
    elif fmt == "jpeg":
        image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buf.getvalue()


def _photo_of_median_contrast(manifest: Path) -> tuple[dict[str, str], Image.Image] | None:
    """The stored crop of a real photo (not artwork, not a face close-up; the largest stored side) whose
    luminance spread is the median of those: a typical photo, never a blank or near-black frame, and the
    same one on every run."""
    rows = [
        r
        for r in _corpus_rows(manifest)
        if r["label"] == "real" and r.get("generator", "real") == "real" and r.get("subset") != "faces"
    ]
    if not rows:
        return None
    largest = max(int(r.get("stored_side") or 0) for r in rows)
    scored = []
    for r in rows:
        if int(r.get("stored_side") or 0) == largest:
            with Image.open(manifest.parent / r["path"]) as im:
                scored.append((float(np.asarray(im.convert("L"), dtype=np.float32).std()), r["path"], r))
    _, _, row = sorted(scored, key=lambda t: t[:2])[len(scored) // 2]
    with Image.open(manifest.parent / row["path"]) as im:
        return row, im.convert("RGB")


def latency_image(manifest: Path = CORPUS_MANIFEST, side: int = SIDE) -> tuple[bytes, str]:
    """The 1024x1024 upload, as JPEG q95, and a sentence saying what it is."""
    found = _photo_of_median_contrast(manifest)
    if found:
        row, stored = found
        image = stored.resize((side, side), Image.LANCZOS)
        note = (
            f"a real photo of the imported corpus (the median-contrast one of its {stored.width}-px real photo "
            f"crops: {row['path']}, source {row.get('source', '?')}; resized to {side}x{side}, Lanczos), "
            f"sent as JPEG q{JPEG_QUALITY}"
        )
    else:
        image = _texture(side, seed=0)
        note = (
            f"a generated {side}x{side} multi-scale texture (no imported corpus at {manifest.parent}), "
            f"sent as JPEG q{JPEG_QUALITY}"
        )
    data = encode(image, "jpeg")
    return data, f"{note}, {len(data) / 1024:.0f} KiB"


def gap_images(n: int, manifest: Path = CORPUS_MANIFEST) -> tuple[list[GapImage], str]:
    """Up to ``n`` stored corpus crops spread over the manifest (else 20 generated textures)."""
    rows = _corpus_rows(manifest)
    if not rows:
        count = min(n, 20)
        images = [GapImage(f"generated-{i}", "generated", _texture(384, seed=i + 1)) for i in range(count)]
        return images, (
            f"{count} generated 384x384 textures: no imported corpus at {manifest} "
            "(`make benchmark CORPUS=...` builds it)"
        )
    picked = rows[:: max(1, len(rows) // n)][:n]
    images = []
    for r in picked:
        with Image.open(manifest.parent / r["path"]) as im:
            images.append(GapImage(r.get("sha256", r["path"])[:12], r["label"], im.convert("RGB")))
    fakes = sum(r["label"] == "fake" for r in picked)
    sides = sorted(int(r.get("stored_side") or 0) for r in picked)
    folds = sorted({r.get("fold", "?") for r in picked})
    sources = len({r.get("source") for r in picked})
    return images, (
        f"{len(picked)} stored crops of the imported corpus, every {max(1, len(rows) // n)}th of its "
        f"{len(rows)} rows ({fakes} AI, {len(picked) - fakes} real; {sources} sources; folds "
        f"{', '.join(folds)}; {sides[0]}-{sides[-1]} px square), each decoded once and sent as PNG and as "
        f"JPEG q{JPEG_QUALITY} of those pixels"
    )


# ---- the stack ----------------------------------------------------------------------------------


def make_start_threads(registry: Path = REGISTRY) -> str | None:
    """TRIBUNAL_CPU_THREADS as ``make start`` gives each detector of ``registry`` (None: left unset)."""
    planned = LocalStack(registry_path=registry).plan()[:-1]  # the gateway comes last
    return next((s.env["TRIBUNAL_CPU_THREADS"] for s in planned if "TRIBUNAL_CPU_THREADS" in s.env), None)


def bench_env(threads: str | None) -> dict[str, str]:
    """The environment the bench stacks run with: detection open (auth off), never throttled, quiet logs,
    and ``make start``'s CPU threads per detector (``make_start_threads``) when it sets them."""
    return {
        "TRIBUNAL_AUTH_REQUIRED": "false",
        "TRIBUNAL_DETECT_PER_MINUTE": str(DETECT_PER_MINUTE),
        "TRIBUNAL_LOG_LEVEL": "warning",
        **({"TRIBUNAL_CPU_THREADS": threads} if threads else {}),
    }


def image_detectors(registry: Path = REGISTRY) -> list[dict[str, Any]]:
    """Registry entries of every enabled image detector, moved to free ports."""
    entries = []
    for entry in load_registry(registry).detectors:
        if entry.enabled and entry.handles("image"):
            port = free_port()
            entries.append({**entry.model_dump(mode="json"), "url": f"http://127.0.0.1:{port}", "port": port})
    return entries


@contextlib.contextmanager
def image_stack(
    workdir: Path,
    env: dict[str, str],
    timeout_s: float,
    log: Callable[[str], None],
    registry: Path = REGISTRY,
) -> Iterator[LocalStack]:
    """The gateway and every enabled image detector, started and stopped as ``make start`` does."""
    workdir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(
        registry_path=workdir / "detectors.yaml",
        gateway_port=free_port(),
        log_dir=workdir / "log",
        extra_env=env,
    )
    stack.write_registry(image_detectors(registry))
    stack.start(timeout_s=timeout_s, on_progress=lambda msg: log(f"  {msg}"))
    try:
        yield stack
    finally:
        stack.stop()


def machine_cpu_seconds() -> float:
    """CPU time every core of this machine has spent busy since boot (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def stack_cpu_seconds(stack: LocalStack) -> float:
    """CPU the stack's processes have used so far (they started with this run)."""
    total = 0.0
    for service in stack.services:
        if service.pid is not None and service.exited() is None:
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += process_cpu_seconds(service.pid)
    return total


def _post(client: httpx.Client, url: str, data: bytes, fmt: str) -> tuple[dict[str, Any] | None, float, str]:
    """One ``/detect`` upload with the default method: (answer or None, client ms, error text)."""
    started = time.perf_counter()
    try:
        response = client.post(url + "/detect", files={"file": (f"upload.{fmt}", data, f"image/{fmt}")})
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        return None, ms, f"HTTP {response.status_code}: {response.text[:200]}"
    return response.json(), ms, ""


def measure_latency(
    client: httpx.Client, url: str, image: bytes, label: str, warmup: int, requests: int
) -> LatencyRun:
    run = LatencyRun(label)
    for _ in range(warmup):
        _post(client, url, image, "jpeg")
    for _ in range(requests):
        answer, ms, error = _post(client, url, image, "jpeg")
        if answer is None:
            run.errors.append(error)
        else:
            run.add(answer, ms)
    return run


def measure_gap(
    client: httpx.Client, url: str, images: Sequence[GapImage]
) -> tuple[list[tuple[dict, dict]], list[GapImage], list[str]]:
    """Each image as PNG then JPEG: the answer pairs, the images they belong to, and the errors."""
    pairs, kept, errors = [], [], []
    for item in images:
        png, _, e1 = _post(client, url, encode(item.pixels, "png"), "png")
        jpeg, _, e2 = _post(client, url, encode(item.pixels, "jpeg"), "jpeg")
        if png is None or jpeg is None:
            errors.append(f"{item.name}: {e1 or e2}")
        else:
            pairs.append((png, jpeg))
            kept.append(item)
    return pairs, kept, errors


# ---- the report ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0f}"


def _gap(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def _counts(counter: Counter, pattern: str = "{key} {n}") -> str:
    ordered = sorted(counter.items(), key=lambda kv: str(kv[0]))
    return ", ".join(pattern.format(key=k, n=v) for k, v in ordered) or "—"


def render_latency(runs: Sequence[LatencyRun], detectors: Sequence[str]) -> list[str]:
    """The latency table (one row per run, the first being the default) and the per-detector table."""
    header = "| crops per image | requests | errors | p50 ms | p90 ms | mean ms | " + " | ".join(
        f"{d} p50 ms" for d in detectors
    )
    lines = [
        header + " |",
        "|" + "---|" * (6 + len(detectors)),
    ]
    for run in runs:
        t = run.total
        cells = [_ms(summarize(run.detector_ms.get(d, [])).p50) for d in detectors]
        lines.append(
            f"| {run.label} | {t.n} | {len(run.errors)} | {_ms(t.p50)} | {_ms(t.p90)} | {_ms(t.mean)} | "
            + " | ".join(cells)
            + " |"
        )
    default = runs[0]
    lines += [
        "",
        f"Each detector at {default.label} crops (round trip as the gateway saw it, from `detectors[].elapsed_ms`; "
        "they run in parallel, so `/detect` takes about the slowest plus the gateway's own share):",
        "",
        "| detector | status | p50 ms | p90 ms | mean ms | crops analysed |",
        "|---|---|---|---|---|---|",
    ]
    for d in detectors:
        s = summarize(default.detector_ms.get(d, []))
        lines.append(
            f"| {d} | {_counts(default.statuses.get(d, Counter()))} | {_ms(s.p50)} | {_ms(s.p90)} | "
            f"{_ms(s.mean)} | {_counts(default.crops.get(d, Counter()), '{key} ({n} answers)')} |"
        )
    g = summarize(default.gateway_ms)
    lines += [
        "",
        f"The gateway's own `elapsed_ms` at {default.label} crops: p50 {_ms(g.p50)} ms (the rest of the client's "
        f"time is the upload and the answer on loopback). Fusion method of the answers: {_counts(default.methods)}.",
    ]
    if default.errors:
        lines.append(f"Failed requests: {len(default.errors)}, e.g. {default.errors[0]}")
    p50 = default.total.p50
    verdict = "—" if math.isnan(p50) else ("met" if p50 <= LATENCY_TARGET_MS else "MISSED")
    lines += ["", f"Target: `/detect` p50 ≤ {LATENCY_TARGET_MS:.0f} ms: measured {_ms(p50)} ms — {verdict}"]
    return lines


def render_gap(gaps: dict[str, GapStats], worst: str | None) -> list[str]:
    lines = [
        f"| score | pairs | mean gap | max gap | pairs over {GAP_TARGET} | mean JPEG minus PNG | left out | "
        f"target (mean ≤ {GAP_TARGET}) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, g in gaps.items():
        verdict = "—" if math.isnan(g.mean) else ("met" if g.mean <= GAP_TARGET else "MISSED")
        lines.append(
            f"| {name} | {g.n} | {_gap(g.mean)} | {_gap(g.max)} | {g.over} | {_gap(g.signed_mean)} | "
            f"{g.missing} | {verdict} |"
        )
    lines += [
        "",
        '"left out": pairs where either answer had no score (an abstention, e.g. metadata_provenance\'s '
        "`no_evidence`, or a failure).",
    ]
    if worst:
        lines.append(f"Largest fused gap: {worst}.")
    return lines


def worst_pair(pairs: Sequence[tuple[dict, dict]], images: Sequence[GapImage]) -> str | None:
    best: tuple[float, str] | None = None
    for (png, jpeg), item in zip(pairs, images, strict=True):
        a, b = png.get("score_fake"), jpeg.get("score_fake")
        if a is None or b is None:
            continue
        if best is None or abs(b - a) > best[0]:
            best = (abs(b - a), f"{item.name} ({item.label}): PNG {a:.3f}, JPEG {b:.3f}")
    return best[1] if best else None


@dataclass
class DetectResult:
    """Everything one run of the suite measured (what ``report`` renders)."""

    detectors: list[str]
    threads: str | None
    load_before: float
    other_cpu: float | None = None  # share of the machine other processes used during the run
    image_note: str = ""
    gap_note: str = ""
    runs: list[LatencyRun] = field(default_factory=list)
    gaps: dict[str, GapStats] = field(default_factory=dict)
    worst: str | None = None
    gap_errors: list[str] = field(default_factory=list)
    not_ready: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # stacks that did not start, etc.


def report(r: DetectResult, plan: DetectPlan) -> str:
    threads = (
        f"`TRIBUNAL_CPU_THREADS={r.threads}` each, as `make start` gives them (the cores split among the "
        "registry's enabled detectors)"
        if r.threads
        else "the libraries' default threads (as `make start` leaves them here)"
    )
    lines = [
        f"The real stack, started as `make start` starts it (scripts/local_stack.py): the gateway and the "
        f"{len(r.detectors)} enabled image detectors ({', '.join(r.detectors)}), each its own process, "
        f"{threads}. Detection opened as in the gateway bench (`TRIBUNAL_AUTH_REQUIRED=false`, history in a "
        f"temporary folder) and `TRIBUNAL_DETECT_PER_MINUTE={DETECT_PER_MINUTE}` (raised from 30 so the "
        "bench is never throttled). Requests one at a time from this process, default fusion method. "
        + load_note(r.load_before, r.other_cpu),
    ]
    for name, reason in r.not_ready.items():
        lines.append(f"\n**{name} was not ready** ({reason}): the answers below are degraded without it.")
    for problem in r.problems:
        lines.append(f"\n**Not measured:** {problem}")
    if r.runs:
        lines += [
            "",
            "### Latency, 1024x1024 upload, concurrency 1",
            "",
            f"Upload: {r.image_note}. {plan.warmup} warm-up request(s) after each (re)start, then "
            f"{plan.requests} timed at the default crop count and {plan.compare_requests} at each other "
            "(`TRIBUNAL_CROPS`, the stack restarted with it). Times as the client sees them.",
            "",
            *render_latency(r.runs, r.detectors),
        ]
    if r.gaps:
        lines += [
            "",
            f"### Format gap: the same pixels as PNG and as JPEG q{JPEG_QUALITY}",
            "",
            f"Images: {r.gap_note}. The deployed weights were fitted on every fold of this corpus, so these "
            "images are in-sample for them: the gap shows how each detector's input path treats the two "
            "encodings, not accuracy on unseen images.",
            "",
            *render_gap(r.gaps, r.worst),
        ]
        if r.gap_errors:
            lines.append(f"Failed pairs: {len(r.gap_errors)}, e.g. {r.gap_errors[0]}")
    return "\n".join(lines)


# ---- the run ------------------------------------------------------------------------------------


def run(
    requests: int | None = None,
    plan: DetectPlan | None = None,
    log: Callable[[str], None] = print,
    registry: Path = REGISTRY,
) -> str:
    """Start the stack, measure latency and the format gap, restart with other crop counts; returns the
    markdown body of the report section. ``registry`` says which detectors exist (tests use small ones)."""
    from detectors.common.views import CROPS_ENV, crops_setting

    plan = plan or DetectPlan()
    if requests is not None:
        plan = dataclasses.replace(plan, requests=requests)
    threads = make_start_threads(registry)
    result = DetectResult(
        detectors=[e["name"] for e in image_detectors(registry)],
        threads=threads,
        load_before=os.getloadavg()[0],
    )
    image, result.image_note = latency_image()
    env = bench_env(threads)
    default_crops = crops_setting()
    configs = [
        (f"{default_crops} (default)", {}),
        *((str(c), {CROPS_ENV: str(c)}) for c in plan.compare_crops),
    ]
    # CPU of the whole machine against that of this process and the stacks it starts: the rest is other
    # work that shared the cores during the run.
    busy_started, own_started, wall_started, ours = (
        machine_cpu_seconds(),
        time.process_time(),
        time.perf_counter(),
        0.0,
    )
    with tempfile.TemporaryDirectory(prefix="tribunal-bench-detect-") as tmp:
        for i, (label, overrides) in enumerate(configs):
            workdir = Path(tmp) / f"crops-{label.split()[0]}"
            stack_env = {**env, **overrides, "TRIBUNAL_DATA_DIR": str(workdir / "data")}
            log(f"starting the stack with {label} crops…")
            try:
                with image_stack(workdir, stack_env, plan.start_timeout_s, log, registry) as stack:
                    if i == 0:
                        result.not_ready = dict(stack.not_ready)
                    url = stack.service("gateway").url
                    with httpx.Client(timeout=120.0) as client:
                        n = plan.requests if i == 0 else plan.compare_requests
                        log(f"  latency: {plan.warmup} warm-up + {n} requests")
                        result.runs.append(measure_latency(client, url, image, label, plan.warmup, n))
                        if i == 0 and plan.gap_images:
                            images, result.gap_note = gap_images(plan.gap_images)
                            log(f"  format gap: {len(images)} images as PNG and JPEG")
                            pairs, kept, result.gap_errors = measure_gap(client, url, images)
                            result.gaps = format_gaps(pairs)
                            result.worst = worst_pair(pairs, kept)
                    ours += stack_cpu_seconds(stack)
            except StackError as exc:
                result.problems.append(f"the stack with {label} crops did not start: {exc}")
                if i == 0:
                    break
    ours += time.process_time() - own_started
    elapsed = time.perf_counter() - wall_started
    result.other_cpu = max(0.0, machine_cpu_seconds() - busy_started - ours) / (
        elapsed * (os.cpu_count() or 1)
    )
    return report(result, plan)
