"""Batch jobs and interactive /detect side by side (issue 14): does a big job starve interactive users?

The gateway and one ``latency_probe`` detector (a fixed ``latency_ms`` per batch inside the SDK, so the
numbers are the gateway's and the SDK's, not a model's) run as ``make start`` runs them, auth off,
history in a temporary folder, the detection limit raised out of the way. Then, one request at a time:

1. ``/detect`` alone: p50 and p90 of ``requests`` timed uploads after a warm-up;
2. the same while a job of ``job_images`` distinct PNGs runs (sent in parts of 200 with ``add_to``),
   with the job's throughput (items/s) over that window;
3. the same again with the job's yielding turned off (``TRIBUNAL_JOBS_QUIET_S=0``,
   ``TRIBUNAL_JOBS_MAX_YIELD_S=0``: batch items start whenever a slot is free), for comparison.

The job is cancelled once measured, so a run takes about a minute whatever ``job_images`` is.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from scripts.bench.detect import percentile
from scripts.local_stack import LocalStack, free_port

PART = 200  # files per upload request


@dataclass(frozen=True)
class JobsPlan:
    requests: int = 30
    warmup: int = 3
    job_images: int = 1000
    latency_ms: float = 40.0
    concurrency: int = 2
    compare_without_yield: bool = True
    start_timeout_s: float = 120.0


@dataclass(frozen=True)
class Measurement:
    label: str
    p50_ms: float
    p90_ms: float
    job_items_per_s: float | None


def _png(index: int) -> bytes:
    image = Image.new("RGB", (64, 64), (index % 256, (index // 256) % 256, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def _stack(tmp: Path, plan: JobsPlan, yielding: bool) -> Iterator[str]:
    env = {
        "TRIBUNAL_PROBE_LATENCY_MS": str(plan.latency_ms),
        "TRIBUNAL_AUTH_REQUIRED": "false",
        "TRIBUNAL_DATA_DIR": str(tmp / "data"),
        "TRIBUNAL_LOG_LEVEL": "warning",
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
        "TRIBUNAL_JOBS_CONCURRENCY": str(plan.concurrency),
    }
    if not yielding:
        env |= {"TRIBUNAL_JOBS_QUIET_S": "0", "TRIBUNAL_JOBS_MAX_YIELD_S": "0"}
    stack = LocalStack(
        registry_path=tmp / "detectors.yaml", gateway_port=free_port(), log_dir=tmp / "log", extra_env=env
    )
    port = free_port()
    stack.write_registry(
        [
            {
                "name": "latency_probe",
                "url": f"http://127.0.0.1:{port}",
                "port": port,
                "media_types": ["image"],
                "timeout_s": 10.0,
            }
        ]
    )
    stack.start(timeout_s=plan.start_timeout_s)
    try:
        yield stack.service("gateway").url
    finally:
        stack.stop()


def _detect_latencies(client: httpx.Client, plan: JobsPlan) -> list[float]:
    image = _png(10_000)
    latencies = []
    for index in range(plan.warmup + plan.requests):
        started = time.perf_counter()
        response = client.post("/detect", files={"file": ("bench.png", image, "image/png")})
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        if index >= plan.warmup:
            latencies.append(elapsed)
    return latencies


def _submit_job(client: httpx.Client, images: int) -> str:
    job_id: str | None = None
    for start in range(0, images, PART):
        files = [
            ("files", (f"{i:05d}.png", _png(i), "image/png")) for i in range(start, min(images, start + PART))
        ]
        params = {"add_to": job_id} if job_id else None
        response = client.post("/jobs", files=files, params=params)
        response.raise_for_status()
        job_id = response.json()["id"]
    assert job_id is not None
    return job_id


def _finished(client: httpx.Client, job_id: str) -> int:
    progress = client.get(f"/jobs/{job_id}").json()["progress"]
    return progress["done"] + progress["failed"]


def _measure(tmp: Path, plan: JobsPlan, yielding: bool, alone: bool) -> list[Measurement]:
    results = []
    with _stack(tmp, plan, yielding) as url, httpx.Client(base_url=url, timeout=60) as client:
        if alone:
            latencies = _detect_latencies(client, plan)
            results.append(Measurement("/detect alone", *_stats(latencies), None))
        job_id = _submit_job(client, plan.job_images)
        time.sleep(1.0)  # the job is under way
        before, started = _finished(client, job_id), time.perf_counter()
        latencies = _detect_latencies(client, plan)
        rate = (_finished(client, job_id) - before) / (time.perf_counter() - started)
        label = f"/detect during a {plan.job_images}-image job" + ("" if yielding else ", yielding off")
        results.append(Measurement(label, *_stats(latencies), rate))
        client.delete(f"/jobs/{job_id}")
    return results


def _stats(latencies: list[float]) -> tuple[float, float]:
    return statistics.median(latencies), percentile(latencies, 90)


def run(plan: JobsPlan | None = None, requests: int | None = None) -> str:
    """Start the stack, measure, stop; the markdown body of the report section."""
    plan = plan or JobsPlan()
    if requests is not None:
        plan = JobsPlan(**{**plan.__dict__, "requests": requests})
    with tempfile.TemporaryDirectory(prefix="tribunal-bench-jobs-") as tmp:
        rows = _measure(Path(tmp) / "yield", plan, yielding=True, alone=True)
        if plan.compare_without_yield:
            rows += _measure(Path(tmp) / "no-yield", plan, yielding=False, alone=False)
    return _report(rows, plan)


def _report(rows: list[Measurement], plan: JobsPlan) -> str:
    lines = [
        f"One `latency_probe` detector sleeping {plan.latency_ms:.0f} ms per batch, 64x64 PNG uploads, one "
        f"interactive client sending /detect back to back ({plan.requests} timed after {plan.warmup} warm-up), "
        f"`jobs_concurrency` {plan.concurrency}. The job is {plan.job_images} distinct PNGs sent in parts of "
        f"{PART}; its rate is counted while the interactive client runs.",
        "",
        "| condition | /detect p50 ms | /detect p90 ms | job items/s meanwhile |",
        "|---|---|---|---|",
    ]
    for row in rows:
        rate = "" if row.job_items_per_s is None else f"{row.job_items_per_s:.1f}"
        lines.append(f"| {row.label} | {row.p50_ms:.1f} | {row.p90_ms:.1f} | {rate} |")
    lines += [
        "",
        "With yielding (the default), a batch item starts only after interactive calls have been quiet for "
        "`jobs_quiet_s`, and at the latest after `jobs_max_yield_s`: a back-to-back interactive client keeps "
        "the job to about `jobs_concurrency` items per `jobs_max_yield_s`, and its own latency close to the "
        "idle figure. Without yielding the job takes every free slot and interactive requests share the "
        "detector's batches and queue with it (docs/jobs.md).",
    ]
    return "\n".join(lines)
