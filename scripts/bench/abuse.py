"""``/detect`` under a burst of huge images through the real local stack (issue 13): memory and answers.

The stack is started as the detect suite starts it (``image_stack``: the gateway and every enabled image
detector of config/detectors.yaml, each its own process, with ``make start``'s CPU threads). A sampler
thread reads every process's resident memory (``/proc/<pid>/status`` VmRSS) every ``sample_s`` while
the rounds run:

1. one 6000x6600 PNG (39.6 MP, just under the 40 MP cap, ~130 KB on disk: what the issue sent) alone;
2. 8 concurrent uploads of that PNG;
3. 8 concurrent uploads of the same pixels as a JPEG.

Each round starts from the stack's settled baseline (the mean over ``baseline_s`` before it), records
every request's status, latency and error code, and then watches the stack for ``settle_s`` more. It
reports the peak rise of the whole stack's RSS (the per-process RSS summed at each sample) and of each
process, and when the stack came back within ``RETURN_MARGIN_MB`` of its baseline.

Targets (issue 13): 8 concurrent 39 MP images raise the stack's peak RSS by ≤ 1.5 GB, it returns within
100 MB of its baseline within 30 s, and every request answers in ≤ 5 s or is refused with a clear 4xx/503.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from scripts.bench.detect import (
    REGISTRY,
    bench_env,
    image_detectors,
    image_stack,
    latency_image,
    machine_cpu_seconds,
    make_start_threads,
    stack_cpu_seconds,
)
from scripts.bench.report import load_note
from scripts.local_stack import StackError

MB = 1024 * 1024
HUGE_SIZE = (6000, 6600)  # 39.6 MP: under the default 40 MP cap, as in the issue
PEAK_TARGET_MB = 1536.0
RETURN_MARGIN_MB = 100.0
RETURN_TARGET_S = 30.0
LATENCY_TARGET_S = 5.0


@dataclass(frozen=True)
class AbusePlan:
    """How hard to push: ``concurrency`` uploads per burst round, memory sampled every ``sample_s``."""

    concurrency: int = 8
    sample_s: float = 0.1
    baseline_s: float = 2.0
    settle_s: float = 30.0
    request_timeout_s: float = 120.0
    start_timeout_s: float = 600.0


# ---- memory ---------------------------------------------------------------------------------------


def read_rss(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident bytes of ``pid`` (VmRSS); 0 when the process is gone."""
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class RssSeries:
    """RSS samples of named processes: ``rows[i][j]`` is process ``names[j]`` at ``times[i]`` (seconds)."""

    names: list[str]
    times: list[float] = field(default_factory=list)
    rows: list[list[int]] = field(default_factory=list)

    def add(self, t: float, values: Sequence[int]) -> None:
        self.times.append(t)
        self.rows.append(list(values))

    def between(self, t0: float, t1: float) -> RssSeries:
        out = RssSeries(self.names)
        for t, row in zip(self.times, self.rows, strict=True):
            if t0 <= t <= t1:
                out.add(t, row)
        return out

    def totals(self) -> list[int]:
        return [sum(row) for row in self.rows]

    def mean(self) -> list[float]:
        """Per-process mean over the samples (the baseline of a quiet stretch)."""
        if not self.rows:
            return [float("nan")] * len(self.names)
        return [sum(col) / len(col) for col in zip(*self.rows, strict=True)]

    def peak(self) -> list[int]:
        return [max(col) for col in zip(*self.rows, strict=True)] if self.rows else [0] * len(self.names)


class RssSampler:
    """Samples the RSS of ``pids`` every ``interval_s`` on a background thread while in the ``with``."""

    def __init__(self, pids: dict[str, int], interval_s: float, reader: Callable[[int], int] = read_rss):
        self.pids = dict(pids)
        self.interval_s = interval_s
        self.reader = reader
        self.series = RssSeries(list(self.pids))
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started

    def _run(self) -> None:
        while not self._stop.is_set():
            row = [self.reader(pid) for pid in self.pids.values()]
            with self._lock:
                self.series.add(self.now(), row)
            self._stop.wait(self.interval_s)

    def snapshot(self, t0: float, t1: float) -> RssSeries:
        with self._lock:
            return self.series.between(t0, t1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One /detect call: HTTP status (0 when the call itself failed), seconds, and what the answer said."""

    status: int
    seconds: float
    error: str = ""  # the error code of a refusal, or the exception of a failed call
    retry_after: str | None = None
    degraded: bool = False
    detector_statuses: tuple[tuple[str, str], ...] = ()
    detector_ms: tuple[tuple[str, float], ...] = ()  # each detector's round trip as the gateway saw it

    @property
    def answered(self) -> bool:
        return self.status == 200

    @property
    def clear_refusal(self) -> bool:
        """A 4xx or a 503 with the gateway's error body (a 500, a reset or a hang is not clear)."""
        return (400 <= self.status < 500 or self.status == 503) and bool(self.error)


def post_detect(client: httpx.Client, url: str, data: bytes, fmt: str) -> Outcome:
    started = time.perf_counter()
    try:
        response = client.post(url + "/detect", files={"file": (f"huge.{fmt}", data, f"image/{fmt}")})
    except httpx.HTTPError as exc:
        return Outcome(0, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        return Outcome(
            response.status_code,
            seconds,
            str(body.get("error", "")),
            response.headers.get("retry-after"),
        )
    detectors = body.get("detectors", [])
    statuses = tuple((d["name"], d["status"]) for d in detectors)
    elapsed = tuple((d["name"], float(d["elapsed_ms"])) for d in detectors if d.get("elapsed_ms") is not None)
    return Outcome(
        200, seconds, degraded=bool(body.get("degraded")), detector_statuses=statuses, detector_ms=elapsed
    )


def burst(url: str, data: bytes, fmt: str, n: int, timeout_s: float) -> list[Outcome]:
    """``n`` uploads released at once from ``n`` threads, each with its own connection."""
    gate = threading.Barrier(n)
    results: list[Outcome | None] = [None] * n

    def one(i: int) -> None:
        with httpx.Client(timeout=timeout_s) as client:
            gate.wait()
            results[i] = post_detect(client, url, data, fmt)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


# ---- rounds ---------------------------------------------------------------------------------------


@dataclass
class Round:
    """One burst and the memory around it."""

    label: str
    outcomes: list[Outcome]
    baseline: list[float]  # per process, bytes
    peak: list[int]  # per process, bytes, from the burst's start to the end of the settle window
    peak_total: int  # the highest summed RSS of one sample
    back_within_s: float | None  # seconds from the burst's end until within the margin; None: never
    residual_total: float  # summed RSS minus baseline at the end of the settle window, bytes
    timeline: RssSeries  # the burst and settle window, times relative to the burst's start
    burst_s: float

    @property
    def peak_rise(self) -> float:
        return self.peak_total - sum(self.baseline)


def measure_round(
    sampler: RssSampler, label: str, send: Callable[[], list[Outcome]], plan: AbusePlan
) -> Round:
    t_base = sampler.now()
    time.sleep(plan.baseline_s)
    baseline = sampler.snapshot(t_base, sampler.now()).mean()
    t0 = sampler.now()
    outcomes = send()
    t1 = sampler.now()
    time.sleep(plan.settle_s)
    window = sampler.snapshot(t0, sampler.now())
    return summarise_round(label, outcomes, baseline, window, t0, t1)


def summarise_round(
    label: str, outcomes: list[Outcome], baseline: list[float], window: RssSeries, t0: float, t1: float
) -> Round:
    """Peak, return time and residual of ``window`` (absolute times; the burst ran from ``t0`` to ``t1``)."""
    base_total = sum(baseline)
    totals = window.totals()
    back = None
    for t, total in zip(window.times, totals, strict=True):
        if t >= t1 and total - base_total <= RETURN_MARGIN_MB * MB:
            back = t - t1
            break
    relative = RssSeries(window.names)
    for t, row in zip(window.times, window.rows, strict=True):
        relative.add(t - t0, row)
    return Round(
        label=label,
        outcomes=outcomes,
        baseline=baseline,
        peak=window.peak(),
        peak_total=max(totals, default=0),
        back_within_s=back,
        residual_total=(totals[-1] - base_total) if totals else float("nan"),
        timeline=relative,
        burst_s=t1 - t0,
    )


# ---- the report -----------------------------------------------------------------------------------


def _mb(value: float) -> str:
    return "—" if math.isnan(value) else f"{value / MB:,.0f}"


def _latencies(outcomes: Sequence[Outcome]) -> str:
    return ", ".join(f"{o.seconds:.1f}" for o in sorted(outcomes, key=lambda o: o.seconds)) or "—"


def _statuses(outcomes: Sequence[Outcome]) -> str:
    counts = Counter(f"{o.status}" + (f" {o.error}" if o.error else "") for o in outcomes)
    degraded = sum(o.degraded for o in outcomes)
    text = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
    return text + (f" ({degraded} degraded)" if degraded else "")


def verdicts(r: Round) -> dict[str, bool]:
    """Which targets this round met (the 8-concurrent targets; a single upload is held to the same)."""
    in_time = all(
        (o.answered and o.seconds <= LATENCY_TARGET_S) or (not o.answered and o.clear_refusal)
        for o in r.outcomes
    )
    return {
        "peak": r.peak_rise <= PEAK_TARGET_MB * MB,
        "return": r.back_within_s is not None and r.back_within_s <= RETURN_TARGET_S,
        "answers": in_time,
    }


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render_round(r: Round) -> list[str]:
    v = verdicts(r)
    back = "never in the window" if r.back_within_s is None else f"{r.back_within_s:.1f} s"
    lines = [
        f"#### {r.label}",
        "",
        f"- answers: {_statuses(r.outcomes)}; seconds each: {_latencies(r.outcomes)} "
        f"(burst over after {r.burst_s:.1f} s) — ≤ {LATENCY_TARGET_S:.0f} s or a clear refusal: {_met(v['answers'])}",
        f"- whole stack: baseline {_mb(sum(r.baseline))} MB, peak {_mb(r.peak_total)} MB, "
        f"**peak rise {_mb(r.peak_rise)} MB** (target ≤ {PEAK_TARGET_MB:,.0f} MB: {_met(v['peak'])})",
        f"- back within {RETURN_MARGIN_MB:.0f} MB of baseline: {back} after the burst "
        f"(target ≤ {RETURN_TARGET_S:.0f} s: {_met(v['return'])}); "
        f"{_mb(r.residual_total)} MB above baseline at the end of the window",
    ]
    refusals = [o for o in r.outcomes if not o.answered]
    if refusals:
        retry = sorted({o.retry_after for o in refusals if o.retry_after})
        lines.append(f"- refusals carried Retry-After: {', '.join(retry) or 'none'}")
    slowest: dict[str, float] = {}
    for o in r.outcomes:
        for name, ms in o.detector_ms:
            slowest[name] = max(ms, slowest.get(name, 0.0))
    if slowest:
        lines.append(
            "- slowest round trip of each detector in the answers: "
            + ", ".join(f"{name} {ms / 1000:.1f} s" for name, ms in sorted(slowest.items()))
        )
    detectors = Counter(f"{name} {status}" for o in r.outcomes for name, status in o.detector_statuses)
    not_ok = {k: n for k, n in detectors.items() if not k.endswith(" ok") and not k.endswith(" abstained")}
    if not_ok:
        lines.append(
            "- detector statuses other than ok: " + ", ".join(f"{k} x{n}" for k, n in sorted(not_ok.items()))
        )
    lines += [
        "",
        "| process | baseline MB | peak MB | peak rise MB | end of window MB |",
        "|---|---|---|---|---|",
    ]
    last = r.timeline.rows[-1] if r.timeline.rows else [0] * len(r.baseline)
    for j, name in enumerate(r.timeline.names):
        lines.append(
            f"| {name} | {_mb(r.baseline[j])} | {_mb(r.peak[j])} | {_mb(r.peak[j] - r.baseline[j])} | "
            f"{_mb(last[j])} |"
        )
    return lines


def render_timeline(
    r: Round, marks: Sequence[float] = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30)
) -> list[str]:
    """RSS over time above each process's baseline: the largest sample in each step up to the next mark."""
    names = r.timeline.names
    lines = [
        "| seconds after the burst started | " + " | ".join(names) + " | whole stack |",
        "|---" * (len(names) + 2) + "|",
    ]
    bounds = [*marks, math.inf]
    for lo, hi in itertools.pairwise(bounds):
        rows = [row for t, row in zip(r.timeline.times, r.timeline.rows, strict=True) if lo <= t < hi]
        if not rows:
            continue
        top = [max(col) for col in zip(*rows, strict=True)]
        rises = [top[j] - r.baseline[j] for j in range(len(names))]
        total = max(sum(row) for row in rows) - sum(r.baseline)
        label = f"{lo:g}-{hi:g}" if hi != math.inf else f"{lo:g}+"
        lines.append(f"| {label} | " + " | ".join(_mb(x) for x in rises) + f" | {_mb(total)} |")
    return lines


@dataclass
class AbuseResult:
    detectors: list[str]
    threads: str | None
    budget: str
    images: dict[str, str] = field(default_factory=dict)  # format -> description
    rounds: list[Round] = field(default_factory=list)
    not_ready: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    load_before: float = float("nan")
    other_cpu: float | None = None  # share of the machine's CPU used by processes outside the bench


def report(result: AbuseResult, plan: AbusePlan) -> str:
    threads = f"`TRIBUNAL_CPU_THREADS={result.threads}` each" if result.threads else "the libraries' threads"
    lines = [
        f"The real stack as `make start` starts it: the gateway and the {len(result.detectors)} enabled image "
        f"detectors ({', '.join(result.detectors)}), each its own process, {threads}; {result.budget}. "
        f"Resident memory (VmRSS) of every process sampled every {plan.sample_s * 1000:.0f} ms; a round's "
        f"baseline is the mean over the {plan.baseline_s:g} s before it, after a warm-up request, and it is "
        f"watched for {plan.settle_s:g} s after its burst. Uploads: "
        + "; ".join(f"{fmt.upper()}: {note}" for fmt, note in result.images.items())
        + ". "
        + load_note(result.load_before, result.other_cpu),
    ]
    for name, reason in result.not_ready.items():
        lines.append(f"\n**{name} was not ready** ({reason}): the rounds ran without it.")
    for problem in result.problems:
        lines.append(f"\n**Not measured:** {problem}")
    if result.rounds:
        lines += [
            "",
            "| round | answers | slowest s | peak rise MB | back within 100 MB | targets |",
            "|---|---|---|---|---|---|",
        ]
        for r in result.rounds:
            v = verdicts(r)
            back = "never" if r.back_within_s is None else f"{r.back_within_s:.1f} s"
            slowest = max((o.seconds for o in r.outcomes), default=float("nan"))
            targets = ", ".join(f"{k} {_met(ok)}" for k, ok in v.items())
            lines.append(
                f"| {r.label} | {_statuses(r.outcomes)} | {slowest:.1f} | {_mb(r.peak_rise)} | {back} | {targets} |"
            )
    for r in result.rounds:
        lines += [
            "",
            *render_round(r),
            "",
            "RSS above baseline over time (MB, the highest sample in each step):",
            "",
        ]
        lines += render_timeline(r)
    return "\n".join(lines)


# ---- the run --------------------------------------------------------------------------------------


def huge_images(size: tuple[int, int] = HUGE_SIZE) -> dict[str, tuple[bytes, str]]:
    """The PNG the issue sent (one flat colour: ~130 KB for 39.6 MP) and the same pixels as JPEG q90."""
    image = Image.new("RGB", size, (128, 132, 120))
    out = {}
    for fmt, kwargs in (("png", {}), ("jpeg", {"quality": 90})):
        buf = io.BytesIO()
        image.save(buf, format=fmt.upper(), **kwargs)
        data = buf.getvalue()
        out[fmt] = (
            data,
            f"{size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP), {len(data) / 1024:,.0f} KB",
        )
    return out


def _budget_note(env: dict[str, str]) -> str:
    from tribunal_sdk.memory import MemorySettings

    settings = MemorySettings()  # the bench's environment, which the stack inherits
    budget = env.get("TRIBUNAL_MEMORY_BUDGET_MB", f"{settings.memory_budget_mb:g}")
    wait = env.get("TRIBUNAL_MEMORY_WAIT_S", f"{settings.memory_wait_s:g}")
    return f"memory budget `TRIBUNAL_MEMORY_BUDGET_MB={budget}` per process, `TRIBUNAL_MEMORY_WAIT_S={wait}`"


def run(plan: AbusePlan | None = None, log: Callable[[str], None] = print, registry: Path = REGISTRY) -> str:
    """Start the stack, run the rounds, return the markdown body of the report section."""
    plan = plan or AbusePlan()
    threads = make_start_threads(registry)
    env = bench_env(threads)
    result = AbuseResult(
        detectors=[e["name"] for e in image_detectors(registry)],
        threads=threads,
        budget=_budget_note(env),
        load_before=os.getloadavg()[0],
    )
    images = huge_images()
    result.images = {fmt: note for fmt, (_, note) in images.items()}
    warm, _ = latency_image()
    with tempfile.TemporaryDirectory(prefix="tribunal-bench-abuse-") as tmp:
        workdir = Path(tmp)
        stack_env = {**env, "TRIBUNAL_DATA_DIR": str(workdir / "data")}
        log("starting the stack…")
        try:
            with image_stack(workdir, stack_env, plan.start_timeout_s, log, registry) as stack:
                result.not_ready = dict(stack.not_ready)
                url = stack.service("gateway").url
                pids = {s.name: s.pid for s in stack.services if s.pid is not None}
                with httpx.Client(timeout=plan.request_timeout_s) as client:
                    post_detect(client, url, warm, "jpeg")  # models loaded, first-request costs paid
                busy, own, wall = machine_cpu_seconds(), time.process_time(), time.perf_counter()
                stack_before = stack_cpu_seconds(stack)
                with RssSampler(pids, plan.sample_s) as sampler:
                    rounds: list[tuple[str, Callable[[], list[Outcome]]]] = [
                        (
                            "one 39.6 MP PNG alone",
                            lambda: burst(url, images["png"][0], "png", 1, plan.request_timeout_s),
                        ),
                        (
                            f"{plan.concurrency} concurrent 39.6 MP PNGs",
                            lambda: burst(
                                url, images["png"][0], "png", plan.concurrency, plan.request_timeout_s
                            ),
                        ),
                        (
                            f"{plan.concurrency} concurrent 39.6 MP JPEGs",
                            lambda: burst(
                                url, images["jpeg"][0], "jpeg", plan.concurrency, plan.request_timeout_s
                            ),
                        ),
                    ]
                    for label, send in rounds:
                        log(f"  {label}…")
                        result.rounds.append(measure_round(sampler, label, send, plan))
                ours = stack_cpu_seconds(stack) - stack_before + time.process_time() - own
                result.other_cpu = max(0.0, machine_cpu_seconds() - busy - ours) / (
                    (time.perf_counter() - wall) * (os.cpu_count() or 1)
                )
        except StackError as exc:
            result.problems.append(f"the stack did not start: {exc}")
    return report(result, plan)
