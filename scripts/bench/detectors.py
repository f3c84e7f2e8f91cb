"""Image detectors benchmark (issue 4): serving throughput, dynamic batching and SDK overhead.

Per trained image detector (fft_spectral, attribution_cnn, clip_universal), on this CPU:

1. the real service (``python -m detectors.<name>``, a subprocess on a free port, CPU device) with
   micro-batching off (``TRIBUNAL_MAX_BATCH_SIZE=1``), at concurrency 1 and at concurrency 16;
2. the same service restarted with batching on, one run per max batch size of a small sweep (4, 8, 16
   and the detector.yaml value; the max delay stays detector.yaml's), at concurrency 16; the best is
   reported, with the mean batch the SDK actually formed (from its ``/metrics`` histogram);
3. a bare loop in a fresh process: no HTTP, no SDK serving; the detector class is built and
   ``load()``-ed as the service does, then its own public ``predict_batch`` runs in a plain ``for`` loop
   over images decoded beforehand, in batches of the mean formed size (and of 1), with the thread
   settings the service has (same environment, same ``load()``, the SDK's thread cap). Calling the
   public path keeps the suite independent of each detector's internals (crops, backbones, features).

SDK overhead = 1 - (service images/s, batching on, concurrency 16) / (bare-loop images/s at the mean
batch size the service formed). Every request is a closed-loop multipart ``file`` upload to ``POST
/predict`` (as the gateway sends it) of a stored corpus crop (``data/benchmark/corpus``), else a
256x256 test-split patch of the package benchmark, else generated noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import importlib
import io
import itertools
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from scripts.bench.load import LoadResult, process_cpu_seconds, run_load
from scripts.local_stack import LocalStack, Service, StackError, free_port
from tribunal_home import REPO_ROOT

# name -> the detector class, as "module:Class"
IMAGE_DETECTORS = {
    "fft_spectral": "detectors.fft_spectral.detector:FftSpectralDetector",
    "attribution_cnn": "detectors.attribution_cnn.detector:AttributionCnnDetector",
    "clip_universal": "detectors.clip_universal.detector:ClipUniversalDetector",
}
CONCURRENCY = 16
SWEEP = (4, 8, 16)
N_IMAGES = 32
OVERHEAD_TARGET = 0.10
MANIFEST = REPO_ROOT / "data" / "benchmark" / "manifest.csv"
CORPUS_MANIFEST = REPO_ROOT / "data" / "benchmark" / "corpus" / "manifest.csv"


# ---- inputs -------------------------------------------------------------------------------------


def bench_images(
    n: int = N_IMAGES, corpus: Path = CORPUS_MANIFEST, manifest: Path = MANIFEST
) -> tuple[list[bytes], str]:
    """``n`` uploads, spread over their set: stored crops of the imported corpus (what the detectors are
    trained on), else test-split patches of the package benchmark, else textured noise written as JPEG.
    Returns (bytes, description)."""
    for path, wanted, what in (
        (corpus, None, "stored crops of the imported corpus (data/benchmark/corpus, JPEG 95, up to 512 px)"),
        (manifest, "test", "test-split 256x256 JPEG patches of data/benchmark"),
    ):
        if not path.is_file():
            continue
        with path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if wanted is None or r.get("split") == wanted]
        rows = [r for r in rows if (path.parent / r["path"]).is_file()]
        if len(rows) >= n:
            picked = rows[:: len(rows) // n][:n]
            data = [(path.parent / r["path"]).read_bytes() for r in picked]
            fakes = sum(r["label"] == "fake" for r in picked)
            return data, (
                f"{n} {what} ({fakes} AI, {n - fakes} real; {sum(map(len, data)) / n / 1024:.1f} KiB on average)"
            )
    data = []
    for i in range(n):
        channels = [Image.effect_noise((256, 256), 20 + 10 * ((i + c) % 5)) for c in range(3)]
        buf = io.BytesIO()
        Image.merge("RGB", channels).save(buf, format="JPEG", quality=90)
        data.append(buf.getvalue())
    return data, f"{n} generated 256x256 noise-texture JPEGs (quality 90; data/benchmark is not built)"


def untrained_reason(name: str) -> str | None:
    """Why ``name`` cannot be measured yet (a weight file unpinned or absent), or None."""
    from tribunal_sdk import DetectorSpec

    cls = _detector_class(name)
    spec = DetectorSpec.from_yaml(cls.directory() / cls.spec_file)
    for weight in spec.weights:
        if weight.sha256 is None:
            return f"{weight.file} has no sha256 in detector.yaml"
        if not (cls.directory() / "weights" / weight.file).is_file():
            return f"weights/{weight.file} is absent"
    return None


def _detector_class(name: str) -> Any:
    module, cls = IMAGE_DETECTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)


# ---- the bare loop: the detector's own predict_batch on decoded images, no HTTP, no SDK -------------


def _time_loop(fn: Callable[[list], object], items: list, batch: int, seconds: float) -> dict[str, float]:
    """Call ``fn`` on consecutive batches of ``items`` (cycled) for about ``seconds`` (at least one batch),
    after one warm-up batch; returns images and seconds."""
    batches = ([items[(i * batch + j) % len(items)] for j in range(batch)] for i in itertools.count())
    fn(next(batches))
    done, started = 0, time.perf_counter()
    while done < batch or time.perf_counter() - started < seconds:
        fn(next(batches))
        done += batch
    return {"images": done, "seconds": time.perf_counter() - started}


def _bare_worker(name: str, images: list[bytes], batches: list[int], seconds: float, queue: Any) -> None:
    try:
        queue.put(_bare_measure(name, images, batches, seconds))
    except BaseException as exc:  # the parent reports it; never hang it
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _bare_measure(name: str, images: list[bytes], batches: list[int], seconds: float) -> dict[str, Any]:
    """The detector built and ``load()``-ed as the service does, its thread cap applied as the SDK does
    after load(), then ``predict_batch`` timed on images decoded beforehand (as the SDK hands them over)."""
    from tribunal_sdk.media import decode_image
    from tribunal_sdk.model_state import limit_cpu_threads
    from tribunal_sdk.settings import ServiceSettings

    detector = _detector_class(name)(device="cpu")
    detector.load()
    cpu_threads = ServiceSettings().cpu_threads
    if cpu_threads is not None:
        limit_cpu_threads(cpu_threads)
    inputs = [decode_image(b) for b in images]
    threads: dict[str, int] = {}
    if "torch" in sys.modules:
        threads["torch"] = sys.modules["torch"].get_num_threads()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            threads.setdefault(pool["user_api"], pool["num_threads"])
    bare = {b: _time_loop(detector.predict_batch, inputs, b, seconds) for b in batches}
    return {"bare": bare, "threads": threads}


def _in_child(target: Callable, *args: Any, timeout_s: float = 1800.0) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    try:
        return queue.get(timeout=timeout_s)
    except Exception as exc:
        return {
            "error": f"bare-loop process gave no result ({type(exc).__name__}), exit code {process.exitcode}"
        }
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(5)


# ---- the service --------------------------------------------------------------------------------


@dataclass
class ServiceRun:
    """One load run against one service configuration."""

    max_batch: int
    load: LoadResult
    batches: float  # predict_batch calls during the measured run
    batched_items: float  # items in them
    model_seconds: float  # time inside predict_batch
    service_cpu_s: float  # user + system CPU of the service process
    client_cpu_s: float  # CPU of this (load-generating) process
    capped: bool = False  # stopped by the time cap before all requests completed

    @property
    def mean_batch(self) -> float:
        return self.batched_items / self.batches if self.batches else float("nan")

    @property
    def model_busy(self) -> float:
        return self.model_seconds / self.load.seconds if self.load.seconds else float("nan")

    def per_image_ms(self, seconds: float) -> float:
        return 1000 * seconds / self.load.requests if self.load.requests else float("nan")


@dataclass
class DetectorResult:
    name: str
    skipped: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    c1: ServiceRun | None = None
    c16_b1: ServiceRun | None = None
    sweep: list[ServiceRun] = field(default_factory=list)
    bare: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> ServiceRun | None:
        return max(self.sweep, key=lambda r: r.load.throughput) if self.sweep else None

    @property
    def bare_batch(self) -> int:
        best = self.best
        return max(1, round(best.mean_batch)) if best and not math.isnan(best.mean_batch) else 1

    def bare_ips(self, batch: int) -> float | None:
        run = self.bare.get("bare", {}).get(batch)
        return run["images"] / run["seconds"] if run else None

    @property
    def overhead(self) -> float | None:
        bare = self.bare_ips(self.bare_batch)
        return 1 - self.best.load.throughput / bare if bare and self.best else None


def _metric_values(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


async def _capped_load(
    call: Callable[[], Awaitable[bool]], concurrency: int, requests: int, cap_s: float
) -> tuple[LoadResult, bool]:
    """``run_load`` stopped after ``cap_s`` (then the result covers the requests that completed);
    returns (result, whether the cap stopped it). A detector that stalls cannot hold the suite for hours."""
    records: list[tuple[float, bool]] = []

    async def recorded() -> bool:
        started = time.perf_counter()
        ok = await call()
        records.append(((time.perf_counter() - started) * 1000, ok))
        return ok

    started = time.perf_counter()
    try:
        return await asyncio.wait_for(run_load(recorded, concurrency, requests, warmup=0), cap_s), False
    except TimeoutError:
        latencies = [ms for ms, _ in records]
        errors = sum(not ok for _, ok in records)
        return LoadResult(concurrency, len(records), errors, time.perf_counter() - started, latencies), True


async def _measure(
    service: Service,
    images: list[bytes],
    concurrency: int,
    max_batch: int,
    requests: int | None,
    seconds: float,
    cap_s: float,
) -> ServiceRun:
    """Warm up, then one closed-loop run of ``requests`` (or about ``seconds`` worth of) uploads, each
    phase stopped after ``cap_s``."""
    uploads = itertools.cycle(images)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=service.url, timeout=cap_s + 5, limits=limits) as client:

        async def call() -> bool:
            data = next(uploads)
            try:
                response = await client.post("/predict", files={"file": ("patch.jpg", data, "image/jpeg")})
            except httpx.TimeoutException:
                return False
            return response.status_code == 200

        warm, _ = await _capped_load(call, concurrency, max(2 * concurrency, 6), cap_s)
        if warm.requests == warm.errors:
            raise RuntimeError(
                f"{service.name}: none of {warm.requests} warm-up requests succeeded in {warm.seconds:.0f} s"
            )
        if requests is None:
            floor = max(2 * concurrency, 16)
            requests = min(400, max(floor, round(warm.throughput * seconds)))
        requests = -(-requests // concurrency) * concurrency  # whole rounds of the clients
        before = _metric_values((await client.get("/metrics")).text)
        cpu_before, client_before = process_cpu_seconds(service.pid), time.process_time()
        result, capped = await _capped_load(call, concurrency, requests, cap_s)
        cpu_after, client_after = process_cpu_seconds(service.pid), time.process_time()
        after = _metric_values((await client.get("/metrics")).text)

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    return ServiceRun(
        max_batch=max_batch,
        load=result,
        batches=delta("tribunal_detector_batch_size_count"),
        batched_items=delta("tribunal_detector_batch_size_sum"),
        model_seconds=delta("tribunal_detector_batch_seconds_sum"),
        service_cpu_s=cpu_after - cpu_before,
        client_cpu_s=client_after - client_before,
        capped=capped,
    )


@contextlib.contextmanager
def _service(
    name: str, max_batch: int, log_dir: Path, env: dict[str, str]
) -> Iterator[tuple[Service, str | None]]:
    """The detector as a subprocess with ``max_batch``; yields (service, reason it is not ready or None)."""
    port = free_port()
    service = Service(
        name=name,
        command=[sys.executable, "-m", f"detectors.{name}", "--host", "127.0.0.1", "--port", str(port)],
        url=f"http://127.0.0.1:{port}",
        port=port,
        env={
            **os.environ,
            **env,
            "PYTHONUNBUFFERED": "1",
            "TRIBUNAL_DEVICE": "cpu",
            "TRIBUNAL_LOAD_MODE": "eager",
            "TRIBUNAL_MAX_BATCH_SIZE": str(max_batch),
        },
        log_path=log_dir / f"{name}-batch{max_batch}.log",
    )
    stack = LocalStack(log_dir=log_dir, services=[service])
    service.start()
    try:
        stack.wait_ready(timeout_s=600)
        yield service, stack.not_ready.get(name)
    finally:
        stack.stop()


@contextlib.contextmanager
def _environ(overrides: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Plan:
    """How much to measure. ``requests`` fixes the measured requests per configuration; by default each
    runs about ``seconds`` (16-400 requests). Every warm-up and run stops after ``cap_s`` whatever happens."""

    requests: int | None = None
    concurrency: int = CONCURRENCY
    sweep: Sequence[int] = SWEEP
    seconds: float = 8.0
    bare_seconds: float = 4.0
    cap_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)  # extra environment of services and bare loop

    def sizes(self, configured: int) -> list[int]:
        """Max batch sizes of the sweep: the plan's and detector.yaml's, capped by the concurrency."""
        return sorted({min(b, self.concurrency) for b in (*self.sweep, configured)} - {1})


def measure_detector(
    name: str, images: list[bytes], plan: Plan | None = None, log: Callable[[str], None] = print
) -> DetectorResult:
    """Every measurement of one detector (its services are stopped before the bare loop runs)."""
    plan = plan or Plan()
    result = DetectorResult(name)
    reason = untrained_reason(name)
    if reason:
        result.skipped = f"not trained, skipped ({reason})"
        return result
    try:
        _measure_services(result, images, plan, log)
    except (StackError, RuntimeError, httpx.HTTPError) as exc:
        result.skipped = f"failed, skipped ({type(exc).__name__}: {exc})"
    if result.skipped:
        return result
    batches = sorted({1, result.bare_batch})
    log(f"  {name}: bare loop at batch {', '.join(map(str, batches))}")
    with _environ(plan.env):
        result.bare = _in_child(_bare_worker, name, images, batches, plan.bare_seconds)
    return result


def _measure_services(
    result: DetectorResult, images: list[bytes], plan: Plan, log: Callable[[str], None]
) -> None:
    name, c = result.name, plan.concurrency

    def measure(service: Service, concurrency: int, max_batch: int) -> ServiceRun:
        log(f"  {name}: max batch {max_batch}, concurrency {concurrency}")
        return asyncio.run(
            _measure(service, images, concurrency, max_batch, plan.requests, plan.seconds, plan.cap_s)
        )

    with tempfile.TemporaryDirectory(prefix=f"tribunal-bench-{name}-") as tmp:
        log_dir = Path(tmp)
        with _service(name, 1, log_dir, plan.env) as (service, not_ready):
            if not_ready:
                result.skipped = f"not ready, skipped ({not_ready})"
                return
            result.info = httpx.get(service.url + "/info", timeout=30).json()
            result.c1 = measure(service, 1, 1)
            result.c16_b1 = measure(service, c, 1)
        configured = _detector_class(name)(device="cpu").spec.batching.max_batch_size
        for size in plan.sizes(configured):
            with _service(name, size, log_dir, plan.env) as (service, _):
                result.sweep.append(measure(service, c, size))


# ---- the report ---------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _targets(r: DetectorResult) -> tuple[str, str]:
    overhead = r.overhead
    over = "—" if overhead is None else ("met" if overhead <= OVERHEAD_TARGET else "MISSED")
    batching = (
        "—"
        if not (r.best and r.c16_b1)
        else ("met" if r.best.load.throughput > r.c16_b1.load.throughput else "MISSED")
    )
    return over, batching


def _row(r: DetectorResult) -> str:
    if r.skipped:
        return f"| {r.name} | {r.skipped} |" + " — |" * 9
    assert r.c1 and r.c16_b1 and r.best
    over, batching = _targets(r)
    bare = r.bare_ips(r.bare_batch)
    bare_cell = f"{_f(bare)} (batch {r.bare_batch})" if bare else f"failed: {r.bare.get('error', '?')}"
    return (
        f"| {r.name} | {_f(r.c1.load.throughput)} | {_f(r.c1.load.p50)} | {_f(r.c16_b1.load.throughput)} | "
        f"{r.best.max_batch} | {_f(r.best.mean_batch, 2)} | {_f(r.best.load.throughput)} | {_f(r.best.load.p50)} | "
        f"{bare_cell} | {_pct(r.overhead)} | overhead ≤ 10 %: {over}; batching beats batch 1: {batching} |"
    )


def _dominant(r: DetectorResult) -> str:
    """One line on what separates the service from the bare loop: per image, the wall time the service
    spends beyond the bare loop splits into predict_batch running slower than bare, and time the model
    thread waits outside predict_batch (HTTP, multipart parsing, JPEG decode, batch gathering)."""
    best = r.best
    bare = r.bare_ips(r.bare_batch)
    assert best and bare
    bare_ms = 1000 / bare
    model_ms = best.per_image_ms(best.model_seconds)
    outside_ms = best.per_image_ms(best.load.seconds) - model_ms
    cpu = (
        f"service {best.per_image_ms(best.service_cpu_s):.1f} ms and load generator "
        f"{best.per_image_ms(best.client_cpu_s):.1f} ms of CPU per image"
    )
    if outside_ms >= model_ms - bare_ms:
        return (
            f"time outside the model dominates: the model thread idles {outside_ms:.1f} ms per image "
            f"(busy {100 * best.model_busy:.0f} % of the run) waiting on HTTP, multipart parsing, JPEG decode and "
            f"batch gathering, against {bare_ms:.1f} ms per image for the bare model ({cpu})"
        )
    return (
        f"the model itself runs slower inside the service: {model_ms:.1f} ms per image in predict_batch against "
        f"{bare_ms:.1f} ms bare (plus {max(outside_ms, 0):.1f} ms idle outside it), as request handling and the "
        f"load generator take CPU from it on the same cores ({cpu})"
    )


def report(results: list[DetectorResult], images_note: str, plan: Plan, load_before: float) -> str:
    cores = os.cpu_count() or 1
    concurrency = plan.concurrency
    env = ", ".join(f"{k}={v}" for k, v in plan.env.items())
    lines = [
        f"Inputs: {images_note}, sent as multipart `file` to `POST /predict` by closed-loop clients on loopback; "
        "each detector runs as its own service process on the CPU (`TRIBUNAL_DEVICE=cpu`), restarted for each "
        "max batch size, and the load generator shares the machine with it. The bare loop runs in a fresh "
        "process with no HTTP and no SDK serving: the detector's `load()`, then its own `predict_batch` "
        f"on images decoded beforehand. 1-minute load average before the run: {load_before:.1f} on {cores} cores. "
        + (
            f"Services and bare loop ran with {env}."
            if env
            else "Thread settings as deployed (environment unchanged)."
        )
        + f" Each warm-up and measured run stops after {plan.cap_s:.0f} s at most.",
        "",
        f"| detector | batch-1 images/s (c=1) | p50 ms (c=1) | batch-1 images/s (c={concurrency}) | best max batch "
        f"| mean batch formed | batched images/s (c={concurrency}) | p50 ms (c={concurrency}) | bare loop images/s "
        "(same batch) | SDK overhead | targets |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(_row(r) for r in results),
        "",
        f"SDK overhead = 1 - (service images/s with batching at c={concurrency}) / (bare-loop images/s at the "
        "mean batch size the service formed, rounded); target ≤ 10 %. Batching target: the best batched "
        f"configuration's images/s above max batch 1's, both at c={concurrency}.",
    ]
    measured = [r for r in results if not r.skipped and r.best]
    if measured:
        lines += [
            "",
            'Every configuration ("model busy" = time inside predict_batch / wall time; CPU per image: the '
            "service process and the load generator; a run stopped by the time cap covers the requests that "
            "completed):",
            "",
            "| detector | concurrency | max batch | images/s | p50 ms | p99 ms | mean batch formed | model busy "
            "| service CPU ms/image | client CPU ms/image | requests | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in measured:
            for run in [r.c1, r.c16_b1, *r.sweep]:
                assert run is not None
                done = f"{run.load.requests}" + (" (time cap)" if run.capped else "")
                lines.append(
                    f"| {r.name} | {run.load.concurrency} | {run.max_batch} | {_f(run.load.throughput)} | "
                    f"{_f(run.load.p50)} | {_f(run.load.p99)} | {_f(run.mean_batch, 2)} | {_pct(run.model_busy)} | "
                    f"{_f(run.per_image_ms(run.service_cpu_s))} | {_f(run.per_image_ms(run.client_cpu_s))} | "
                    f"{done} | {run.load.errors} |"
                )
        lines += ["", "Notes:", ""]
        for r in measured:
            lines.append(_notes(r))
    return "\n".join(lines)


def _notes(r: DetectorResult) -> str:
    assert r.c1 and r.best
    backbone = r.info.get("backbone", "?")
    delay = r.info.get("max_delay_ms")
    if "error" in r.bare:
        return f"- {r.name} ({backbone}): the bare loop failed: {r.bare['error']}"
    threads = ", ".join(f"{k} {v}" for k, v in r.bare.get("threads", {}).items()) or "not reported"
    bare1 = r.bare_ips(1)
    c1_overhead = 1 - r.c1.load.throughput / bare1 if bare1 else None
    over, batching = _targets(r)
    parts = [
        f"- {r.name} ({backbone}; max delay {_f(delay, 0)} ms; threads: {threads}): bare predict_batch "
        f"{_f(bare1)} images/s at batch 1 and {_f(r.bare_ips(r.bare_batch))} at batch {r.bare_batch}. "
        f"At c=1 with batch 1 the service reaches {_f(r.c1.load.throughput)} images/s, an overhead of "
        f"{_pct(c1_overhead)} on the bare batch-1 loop."
    ]
    if over == "MISSED":
        parts.append(f"Overhead target missed: {_dominant(r)}.")
    if batching == "MISSED":
        parts.append(
            "Batching target missed: under concurrency the batched service is no faster than batch 1, so "
            "per-request costs outside the model, not the forward pass, bound throughput here."
        )
    capped = [run for run in (r.c1, r.c16_b1, *r.sweep) if run and run.capped]
    bare_k = r.bare_ips(r.bare_batch)
    if capped or (r.bare_batch > 1 and bare1 and bare_k and bare_k < bare1):
        parts.append(
            "Unstable here: "
            + (f"{len(capped)} run(s) hit the time cap; " if capped else "")
            + (
                f"the bare model is slower per image at batch {r.bare_batch} than at batch 1; "
                if bare1 and bare_k and bare_k < bare1 and r.bare_batch > 1
                else ""
            )
            + "the model's own timing swings (CPU oversubscription: other work on the machine, or more "
            "model threads than free cores). Rerun on an idle machine, or with `--threads 1` to compare."
        )
    return " ".join(parts)


def run(
    names: Sequence[str] | None = None,
    requests: int | None = None,
    threads: int | None = None,
    plan: Plan | None = None,
) -> str:
    """Measure each detector in turn; returns the markdown body of the report section.

    ``threads`` sets OMP_NUM_THREADS, MKL_NUM_THREADS and TRIBUNAL_CPU_THREADS for the services and the
    bare loop (default: the environment as it is, i.e. as deployed); ``plan`` sets everything else.
    """
    plan = plan or Plan()
    if requests is not None:
        plan = dataclasses.replace(plan, requests=requests)
    if threads:
        names_ = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TRIBUNAL_CPU_THREADS")
        plan = dataclasses.replace(plan, env={**plan.env, **dict.fromkeys(names_, str(threads))})
    load_before = os.getloadavg()[0]
    images, images_note = bench_images()
    results = []
    for name in names or list(IMAGE_DETECTORS):
        print(f"detector {name}…", flush=True)
        results.append(measure_detector(name, images, plan, log=lambda msg: print(msg, flush=True)))
    return report(results, images_note, plan, load_before)
