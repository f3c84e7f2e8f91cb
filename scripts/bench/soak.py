"""``make soak`` (issue 13, part 7): N requests through the real supervised stack while it is broken on purpose.

    python -m scripts.bench.soak                       # the default N (about ten minutes here)
    python -m scripts.bench.soak --requests 3000 --seed 13
    make soak N=3000 [SEED=13]

What it does, in order:

1. Starts the stack the way ``make start`` does: ``python -m scripts.launcher start`` (which supervises
   and restarts every process), on a copy of the registry's enabled detectors moved to free ports, the
   gateway on a free port, the history database (SQLite) in a fresh temporary data dir. Auth is on: the
   soak signs up a real account, signs in and creates an API key; most requests carry the key, a share
   the bearer token. ``TRIBUNAL_DETECT_PER_MINUTE`` is raised so the soak is never throttled (the report
   says so).
2. Sends N requests from ``--concurrency`` closed-loop clients. The requests are planned up front from
   ``--seed``: valid uploads (generated images as multipart to ``/detect`` and base64 JSON to
   ``/predict``) and a ``--malformed`` share of broken ones (truncated images, wrong content types,
   headers claiming huge dimensions, garbage with and without a known magic number, empty files, bad
   base64, JSON that is not JSON). The same seed and N send the same requests (the plan's sha256 is in
   the report); only the interleaving of the concurrent clients differs.
3. On a schedule tied to the request count, SIGKILLs detectors (round robin over the enabled ones,
   ``--detector-kills`` in all) and, once (at ``--gateway-restart-at`` of the run), the gateway; the
   launcher restarts them. Each kill is timed until the process answers again (a detector's
   ``/ready``, the gateway's ``/health``) and until ``/detect`` answers include it again.
4. Samples the RSS of every process (summed over its process group) every ``--rss-interval`` seconds.
5. Stops the stack (SIGTERM to the launcher, as Ctrl-C) and reads the history database: every 200
   answer's id must be exactly one row.

The report (docs/benchmarks.md, section ``soak``; ``--no-write`` skips it) gives the 5xx count (target 0;
a refused connection while the gateway is down is a connection error, counted apart), lost rows
(target 0), RSS over time and its flatness (each process's longest life, the last minute's mean against
the first minute's after the warm-up: target within 10 %), restart times, latency percentiles and the
status-code mix per kind of request. The raw figures go to ``--json`` (default var/soak/last.json).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from PIL import Image

from gateway.registry import load_registry
from scripts.bench.detect import percentile
from scripts.bench.report import write_section
from scripts.local_stack import free_port, stop_pid
from tribunal_home import REPO_ROOT

REGISTRY = REPO_ROOT / "config" / "detectors.yaml"
DEFAULT_JSON = REPO_ROOT / "var" / "soak" / "last.json"
# About ten minutes of the default mix on this machine (2 shared cores, the five enabled detectors).
DEFAULT_REQUESTS = 650
DEFAULT_SEED = 13
# Far above what a soak sends (the default limit is 30 detections per user and minute).
DETECT_PER_MINUTE = 1_000_000
RSS_FLAT_TARGET = 0.10
DETECTOR_BACK_TARGET_S = 20.0
USERNAME = "soak"
# The share of requests (valid or not) that carry the bearer token instead of the API key.
BEARER_SHARE = 0.1
# A connection error this long after the gateway answers /health again still counts as "while it was down".
DOWN_GRACE_S = 1.0

VALID_KINDS = ("valid_detect", "valid_predict")
MALFORMED_KINDS = (
    "truncated",  # a valid image cut short
    "huge_dimensions",  # a few hundred bytes whose header claims more pixels than the cap
    "garbage",  # random bytes
    "garbage_magic",  # a known magic number followed by random bytes
    "empty",  # zero bytes
    "text_file",  # a text file as the upload
    "wrong_content_type",  # /detect with a JSON or raw body, /predict with a multipart body
    "bad_base64",  # /predict with data that is not base64
    "not_json",  # /predict with a body that is not JSON
    "missing_file",  # a multipart body without the 'file' field
)
# Each kind of request appears in the status table in this order.
KINDS = VALID_KINDS + MALFORMED_KINDS
_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"BM" + b"\x00" * 24,
    b"II*\x00",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    b"\x00\x00\x00\x18ftypisom",
    b"\x1a\x45\xdf\xa3",
)
_METHODS = (None, None, "average", "voting", "stacking")


@dataclass(frozen=True)
class SoakOptions:
    requests: int = DEFAULT_REQUESTS
    seed: int = DEFAULT_SEED
    malformed: float = 0.2  # share of malformed requests
    concurrency: int = 4
    detector_kills: int = 6
    # Detectors to kill in turn; default every enabled one, in registry order.
    kill: tuple[str, ...] = ()
    gateway_restart_at: float | None = 0.5  # share of the requests sent when the gateway is killed
    rss_interval_s: float = 5.0
    warmup_s: float = 60.0  # RSS: the first minute of each process's life is not compared
    window_s: float = 60.0  # RSS: the windows compared (first after warm-up, last)
    connect_pause_s: float = 1.0  # a client waits this long after a refused connection, as a real one would
    request_timeout_s: float = 120.0
    restart_timeout_s: float = 300.0  # a killed process must answer again by then
    start_timeout_s: float = 900.0
    registry: Path = REGISTRY
    pool_size: int = 16  # distinct generated images the valid requests cycle through
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the stack (tests)


# ---- the plan: which requests, deterministically from the seed -----------------------------------------


@dataclass(frozen=True)
class PoolImage:
    data: bytes
    fmt: str  # png, jpeg, webp
    size: tuple[int, int]


@dataclass(frozen=True)
class RequestSpec:
    """One planned request; ``build`` turns it into bytes. Small, so N of them cost nothing."""

    index: int
    kind: str
    path: str  # /detect or /predict
    image: int  # index into the image pool (the source of every image-derived payload)
    variant: int  # kind-specific choice (cut point, claimed size, magic number, ...)
    salt: int  # seeds the random bytes of garbage kinds
    bearer: bool  # the bearer token instead of the API key
    method: str | None  # ensemble_method of valid requests

    @property
    def malformed(self) -> bool:
        return self.kind in MALFORMED_KINDS


def image_pool(seed: int, count: int = 16) -> list[PoolImage]:
    """``count`` images from the seed: gradients, blobs and grain at 96-1024 px, as PNG, JPEG or WebP."""
    rng = np.random.default_rng(seed)
    sides = (96, 192, 256, 384, 512, 640, 768, 1024)
    pool = []
    for _ in range(count):
        width, height = int(rng.choice(sides)), int(rng.choice(sides))
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        base = (
            rng.uniform(0, 255, 3) * (x / width)[..., None] + rng.uniform(0, 255, 3) * (y / height)[..., None]
        )
        for _ in range(int(rng.integers(1, 5))):  # soft blobs
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, max(width, height) / 2)
            blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
            base = base * (1 - blob) + rng.uniform(0, 255, 3) * blob
        base += rng.normal(0, rng.uniform(1, 12), base.shape)
        img = Image.fromarray(np.clip(base / 2, 0, 255).astype(np.uint8))
        fmt = str(rng.choice(["png", "jpeg", "jpeg", "webp"]))
        buf = io.BytesIO()
        img.save(buf, format=fmt, **({"quality": int(rng.integers(70, 96))} if fmt != "png" else {}))
        pool.append(PoolImage(buf.getvalue(), fmt, (width, height)))
    return pool


def plan_requests(options: SoakOptions) -> list[RequestSpec]:
    """The N requests of a soak, in order; a function of (seed, N, malformed share) only."""
    rng = np.random.default_rng([options.seed, 1])
    specs = []
    for index in range(options.requests):
        malformed = rng.random() < options.malformed
        kind = str(rng.choice(MALFORMED_KINDS if malformed else VALID_KINDS))
        if kind in ("valid_predict", "bad_base64", "not_json"):
            path = "/predict"
        elif kind in ("valid_detect", "empty", "text_file", "missing_file"):
            path = "/detect"
        elif kind == "wrong_content_type":
            path = str(rng.choice(["/detect", "/predict"], p=[2 / 3, 1 / 3]))
        else:  # broken payloads go both ways: multipart, or base64 in JSON
            path = str(rng.choice(["/detect", "/predict"], p=[0.7, 0.3]))
        specs.append(
            RequestSpec(
                index=index,
                kind=kind,
                path=path,
                image=int(rng.integers(options.pool_size)),
                variant=int(rng.integers(1 << 30)),
                salt=int(rng.integers(1 << 62)),
                bearer=bool(rng.random() < BEARER_SHARE),
                method=None if malformed else _METHODS[int(rng.integers(len(_METHODS)))],
            )
        )
    return specs


def plan_fingerprint(specs: Sequence[RequestSpec], pool: Sequence[PoolImage]) -> str:
    """sha256 over the plan and the images it draws on: equal fingerprints, equal requests."""
    digest = hashlib.sha256()
    for image in pool:
        digest.update(hashlib.sha256(image.data).digest())
    for spec in specs:
        digest.update(json.dumps(asdict(spec), sort_keys=True).encode())
    return digest.hexdigest()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims width x height."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * 8, 9))
        + chunk(b"IEND", b"")
    )


def _gif_claiming(width: int, height: int) -> bytes:
    return (
        b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b",\x00\x00\x00\x00" + b"\x00" * 8
    )


def _jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose start-of-frame header is rewritten to claim width x height."""
    for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
        at = jpeg.find(marker)
        if at > 0:
            return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]
    return jpeg


def _huge(spec: RequestSpec, pool: Sequence[PoolImage]) -> bytes:
    claims = ((50_000, 50_000), (65_535, 65_535), (200_000, 1_000), (9_000, 9_000), (30_000, 2_000))
    width, height = claims[spec.variant % len(claims)]
    jpeg = next((p.data for p in pool if p.fmt == "jpeg"), None)
    makers: list[Callable[[], bytes]] = [lambda: _png_claiming(width, height)]
    if width <= 65_535 and height <= 65_535:
        makers.append(lambda: _gif_claiming(width, height))
        if jpeg is not None:
            makers.append(lambda: _jpeg_claiming(jpeg, width, height))
    return makers[(spec.variant // len(claims)) % len(makers)]()


def payload(spec: RequestSpec, pool: Sequence[PoolImage]) -> bytes:
    """The file bytes a request carries (for kinds that carry a file)."""
    image = pool[spec.image]
    rng = np.random.default_rng(spec.salt)
    if spec.kind in ("valid_detect", "valid_predict", "wrong_content_type"):
        return image.data
    if spec.kind == "truncated":
        # Anywhere from just past the magic number to one byte short.
        return image.data[: 8 + spec.variant % max(1, len(image.data) - 9)]
    if spec.kind == "huge_dimensions":
        return _huge(spec, pool)
    if spec.kind == "garbage":
        return rng.bytes(int(rng.integers(1, 64 * 1024)))
    if spec.kind == "garbage_magic":
        return _MAGIC[spec.variant % len(_MAGIC)] + rng.bytes(int(rng.integers(0, 32 * 1024)))
    if spec.kind == "empty":
        return b""
    if spec.kind == "text_file":
        return ("This is not an image.\n" * int(1 + spec.variant % 200)).encode()
    return b""


@dataclass(frozen=True)
class Prepared:
    """What httpx sends for one request."""

    path: str
    content: bytes | None = None
    json_body: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def build(spec: RequestSpec, pool: Sequence[PoolImage]) -> Prepared:
    """The HTTP request of ``spec`` (without credentials)."""
    image = pool[spec.image]
    body = payload(spec, pool)
    ext = {"jpeg": "jpg"}.get(image.fmt, image.fmt)
    form = {"ensemble_method": spec.method} if spec.method else None
    if spec.kind == "wrong_content_type":
        b64 = base64.b64encode(body).decode()
        if spec.path == "/predict":  # a multipart upload sent to the JSON endpoint
            return Prepared("/predict", files={"file": (f"a.{ext}", body, _CONTENT_TYPES[image.fmt])})
        if spec.variant % 2:  # /predict's JSON sent to /detect
            return Prepared("/detect", json_body={"data": b64})
        return Prepared("/detect", content=body, headers={"Content-Type": _CONTENT_TYPES[image.fmt]})
    if spec.kind == "bad_base64":
        bad = (
            "!!not*base64@@" * (1 + spec.variant % 5),
            base64.b64encode(image.data[:1000]).decode()[:-3] + "%",
            "A" * (4 * (1 + spec.variant % 50) + 1),  # a length base64 can never have
            "data:image/png;base64,<svg/>",
        )
        return Prepared("/predict", json_body={"data": bad[spec.variant % len(bad)]})
    if spec.kind == "not_json":
        bodies = (b'{"data": "iVBORw0K', b"data=abc", body[:200] or b"\x00")
        return Prepared(
            "/predict",
            content=bodies[spec.variant % len(bodies)],
            headers={"Content-Type": "application/json"},
        )
    if spec.kind == "missing_file":
        return Prepared("/detect", files={"upload": (f"a.{ext}", image.data, "image/png")}, data=form)
    if spec.path == "/predict":
        request: dict[str, Any] = {"data": base64.b64encode(body).decode()}
        if spec.kind == "valid_predict":
            request["media_type"] = "image"
        if spec.method:
            request["ensemble_method"] = spec.method
        return Prepared("/predict", json_body=request)
    name, content_type = f"upload-{spec.index}.{ext}", _CONTENT_TYPES[image.fmt]
    if spec.kind == "text_file":
        name, content_type = "notes.txt", "text/plain"
    return Prepared("/detect", files={"file": (name, body, content_type)}, data=form)


# ---- the schedule: kills tied to the request count -------------------------------------------------------


@dataclass(frozen=True)
class Action:
    at_request: int
    target: str  # a detector's name, or "gateway"


def schedule(options: SoakOptions, detectors: Sequence[str]) -> list[Action]:
    """Detector kills at (2j+1)/(2K+1) of the run (never at 1/2), round robin; the gateway at its share."""
    actions = []
    n, k = options.requests, options.detector_kills
    targets = list(options.kill or detectors)
    if targets:
        for j in range(k):
            actions.append(Action(int(n * (2 * j + 1) / (2 * k + 1)), targets[j % len(targets)]))
    if options.gateway_restart_at is not None:
        actions.append(Action(int(n * options.gateway_restart_at), "gateway"))
    return sorted(actions, key=lambda a: (a.at_request, a.target))


# ---- the stack: the launcher, as `make start` runs it ----------------------------------------------------


def _die_with_parent() -> None:
    """In the launcher before exec: SIGTERM it (it then stops the stack) if the soak dies."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Stack:
    """A launcher process started by the soak, and where it keeps its files."""

    process: subprocess.Popen
    gateway: str
    detectors: dict[str, str]  # name -> base URL
    workdir: Path

    @property
    def run_dir(self) -> Path:
        return self.workdir / "run"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "log"

    @property
    def database(self) -> Path:
        return self.workdir / "data" / "tribunal.db"

    def output(self) -> str:
        return (self.workdir / "launcher.out").read_text(errors="replace")

    def supervision(self) -> dict[str, Any]:
        try:
            return json.loads((self.run_dir / "supervision.json").read_text())
        except (OSError, ValueError):
            return {}

    def pids(self) -> dict[str, int]:
        services = self.supervision().get("services", {})
        pids = {name: s["pid"] for name, s in services.items() if s.get("pid")}
        return {**pids, "launcher": self.process.pid}

    def launcher_events(self) -> list[dict[str, Any]]:
        events = []
        with contextlib.suppress(OSError):
            for line in (self.log_dir / "launcher.log").read_text().splitlines():
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        return events

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM the launcher, as Ctrl-C would; it stops everything it started."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                stop_pid(self.process.pid, timeout_s=2)
        return self.process.poll()


def stack_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the soak's launcher: auth on, a fresh SQLite data dir, detection unthrottled."""
    env = {k: v for k, v in os.environ.items() if k != "TRIBUNAL_DATABASE_URL"}
    env.update(
        {
            "TRIBUNAL_AUTH_REQUIRED": "true",
            "TRIBUNAL_REGISTRATION_OPEN": "true",
            "TRIBUNAL_DATA_DIR": str(workdir / "data"),
            "TRIBUNAL_DETECT_PER_MINUTE": str(DETECT_PER_MINUTE),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def start_stack(options: SoakOptions, workdir: Path, log: Callable[[str], None]) -> Stack:
    """``python -m scripts.launcher start`` on the registry's enabled detectors, moved to free ports."""
    detectors = {}
    entries = []
    for entry in load_registry(options.registry).detectors:
        if entry.enabled:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            entries.append({**entry.model_dump(mode="json"), "url": url, "port": port})
            detectors[entry.name] = url
    registry = workdir / "detectors.yaml"
    registry.write_text(yaml.safe_dump({"detectors": entries}, sort_keys=False))
    port = free_port()
    command = [sys.executable, "-m", "scripts.launcher", "start", "--registry", str(registry)]
    command += ["--port", str(port), "--timeout", f"{options.start_timeout_s:g}"]
    command += ["--run-dir", str(workdir / "run"), "--log-dir", str(workdir / "log")]
    with (workdir / "launcher.out").open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=stack_env(workdir, options.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    stack = Stack(process, f"http://127.0.0.1:{port}", detectors, workdir)
    log(f"starting the stack (launcher pid {process.pid}): gateway and {', '.join(detectors)}")
    deadline = time.monotonic() + options.start_timeout_s + 30
    while not (stack.run_dir / "supervision.json").exists():  # written once everything is up
        if process.poll() is not None:
            raise RuntimeError(f"the launcher exited with code {process.returncode}:\n{stack.output()}")
        if time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError(f"the stack did not come up in time:\n{stack.output()}")
        time.sleep(0.5)
    return stack


# ---- the account ---------------------------------------------------------------------------------------


@dataclass
class Credentials:
    api_key: str
    access_token: str
    refresh_token: str
    expires_at: float  # monotonic

    def headers(self, bearer: bool) -> dict[str, str]:
        if bearer:
            return {"Authorization": f"Bearer {self.access_token}"}
        return {"X-API-Key": self.api_key}


def open_account(gateway: str, password: str) -> Credentials:
    """Sign up the soak's account (the first, so the admin), sign in, create an API key."""
    with httpx.Client(base_url=gateway, timeout=30, trust_env=False) as client:
        created = client.post("/auth/register", json={"username": USERNAME, "password": password})
        created.raise_for_status()
        tokens = client.post("/auth/token", data={"username": USERNAME, "password": password})
        tokens.raise_for_status()
        access = tokens.json()
        key = client.post(
            "/api-keys",
            json={"name": "make soak"},
            headers={"Authorization": f"Bearer {access['access_token']}"},
        )
        key.raise_for_status()
    return Credentials(
        key.json()["key"],
        access["access_token"],
        access["refresh_token"],
        time.monotonic() + float(access["expires_in"]),
    )


# ---- running it ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request as the client saw it. Times are seconds since the first request was sent."""

    index: int
    kind: str
    path: str
    bearer: bool
    sent_s: float
    latency_ms: float
    status: int | None  # None: no HTTP answer
    error: str | None = None  # "connection" or "timeout" when status is None; else the body's error code
    answer_id: str | None = None
    degraded: bool | None = None
    answered_by: list[str] = field(default_factory=list)  # detectors whose status was ok or abstained
    warnings: list[str] = field(default_factory=list)
    body: str | None = None  # the start of a 5xx body

    @property
    def done_s(self) -> float:
        return self.sent_s + self.latency_ms / 1000

    @property
    def malformed(self) -> bool:
        return self.kind in MALFORMED_KINDS


@dataclass
class Restart:
    target: str
    at_request: int
    killed_s: float | None  # None: skipped (the process was not running at its turn)
    old_pid: int | None
    back_s: float | None = None  # kill -> /ready (detector) or /health (gateway) answers 200
    new_pid: int | None = None
    in_answers_s: float | None = None  # kill -> first /detect answer that includes it again
    supervisor_down_s: float | None = None  # the launcher's own figure (its "recovered" event)
    note: str = ""


@dataclass
class Sample:
    t_s: float
    service: str
    pid: int
    rss_mb: float


def _process_groups() -> dict[int, list[int]]:
    """Process group id -> its processes, from /proc."""
    groups: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            rest = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            groups[int(rest[2])].append(int(entry))
    return groups


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def group_rss_mb(pids: dict[str, int]) -> dict[str, tuple[int, float]]:
    """RSS of each named process summed over its process group (each service leads its own)."""
    groups = _process_groups()
    out = {}
    for name, pid in pids.items():
        total = 0
        for member in groups.get(pid, [pid]):
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(Path(f"/proc/{member}/statm").read_text().split()[1])
        if total:
            out[name] = (pid, total * _PAGE_MB)
    return out


class Soak:
    """Drives one soak against a started stack; see the module docstring."""

    def __init__(
        self,
        options: SoakOptions,
        stack: Stack,
        credentials: Credentials,
        specs: list[RequestSpec],
        pool: list[PoolImage],
        actions: list[Action],
        log: Callable[[str], None],
    ):
        self.options = options
        self.stack = stack
        self.credentials = credentials
        self.specs = specs
        self.pool = pool
        self.actions: dict[int, list[Action]] = defaultdict(list)
        for action in actions:
            self.actions[action.at_request].append(action)
        self.log = log
        self.outcomes: list[Outcome] = []
        self.restarts: list[Restart] = []
        self.samples: list[Sample] = []
        self._next = 0
        self._t0 = 0.0
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.aborted: str | None = None

    def _launcher_gone(self) -> bool:
        """The launcher exited (it gave up on the gateway): nothing will come back, stop sending."""
        code = self.stack.process.poll()
        if code is not None and self.aborted is None:
            self.aborted = f"the launcher exited with code {code} at {self.now():.1f} s"
            self.log(f"  {self.aborted}; stopping")
        return code is not None

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def run(self) -> float:
        """Send every request; returns the duration in seconds."""
        limits = httpx.Limits(max_connections=self.options.concurrency + 4)
        async with httpx.AsyncClient(
            base_url=self.stack.gateway,
            timeout=self.options.request_timeout_s,
            limits=limits,
            trust_env=False,
        ) as client:
            self._t0 = time.monotonic()
            sampler = asyncio.create_task(self._sample_rss())
            await asyncio.gather(*(self._client(client) for _ in range(self.options.concurrency)))
            duration = self.now()
            if self._tasks:  # restarts still being timed
                await asyncio.wait(self._tasks, timeout=self.options.restart_timeout_s + 10)
            self._done.set()
            await sampler
        return duration

    async def _client(self, client: httpx.AsyncClient) -> None:
        while self._next < len(self.specs) and not self._launcher_gone():
            spec = self.specs[self._next]
            self._next += 1
            for action in self.actions.pop(spec.index, []):
                self._tasks.append(asyncio.create_task(self._kill(action)))
            if spec.index and spec.index % max(1, len(self.specs) // 20) == 0:
                self.log(f"  {spec.index}/{len(self.specs)} requests sent, {self.now():.0f} s")
            outcome = await self._send(client, spec)
            self.outcomes.append(outcome)
            if outcome.error == "connection":
                await asyncio.sleep(self.options.connect_pause_s)

    async def _send(self, client: httpx.AsyncClient, spec: RequestSpec) -> Outcome:
        prepared = build(spec, self.pool)
        headers = {**prepared.headers, **self.credentials.headers(spec.bearer)}
        sent = self.now()
        started = time.perf_counter()
        outcome = Outcome(spec.index, spec.kind, spec.path, spec.bearer, sent, 0.0, None)
        try:
            response = await client.post(
                prepared.path,
                content=prepared.content,
                json=prepared.json_body,
                files=prepared.files,
                data=prepared.data,
                headers=headers,
            )
        except httpx.TimeoutException:
            outcome.error = "timeout"
        except httpx.TransportError:
            outcome.error = "connection"
        else:
            outcome.status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code == 200 and isinstance(body, dict):
                outcome.answer_id = body.get("id")
                outcome.degraded = body.get("degraded")
                outcome.warnings = list(body.get("warnings") or [])
                outcome.answered_by = [
                    d["name"] for d in body.get("detectors", []) if d.get("status") in ("ok", "abstained")
                ]
            elif isinstance(body, dict):
                outcome.error = str(body.get("error") or body.get("detail"))[:80]
            if response.status_code >= 500 or (response.status_code == 200 and not outcome.answer_id):
                outcome.body = response.text[:300]
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        return outcome

    async def _kill(self, action: Action) -> None:
        pid = self.stack.pids().get(action.target)
        restart = Restart(action.target, action.at_request, None, pid)
        self.restarts.append(restart)
        if pid is None:
            restart.note = "not running at its turn (still restarting?); skipped"
            self.log(f"  skipping the kill of {action.target}: not running")
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            restart.note = "already gone; skipped"
            return
        restart.killed_s = self.now()
        self.log(
            f"  SIGKILL {action.target} (pid {pid}) at request {action.at_request}, {restart.killed_s:.0f} s"
        )
        if action.target == "gateway":
            url = self.stack.gateway + "/health"
        else:
            url = self.stack.detectors[action.target] + "/ready"
        deadline = time.monotonic() + self.options.restart_timeout_s
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline and not self._launcher_gone():
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        restart.back_s = self.now() - restart.killed_s
                        break
                await asyncio.sleep(0.1)
        restart.new_pid = self.stack.pids().get(action.target)
        if restart.back_s is None and self.aborted:
            restart.note = "never back: " + self.aborted
        elif restart.back_s is None:
            restart.note = f"not answering {self.options.restart_timeout_s:g} s after the kill"
        else:
            self.log(f"  {action.target} answers again {restart.back_s:.1f} s after the kill")

    async def _sample_rss(self) -> None:
        while not self._done.is_set():
            t = self.now()
            for name, (pid, mb) in (await asyncio.to_thread(group_rss_mb, self.stack.pids())).items():
                self.samples.append(Sample(round(t, 2), name, pid, round(mb, 1)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), self.options.rss_interval_s)


# ---- the figures ---------------------------------------------------------------------------------------


@dataclass
class Flatness:
    """RSS of one process's longest life: the first window after its warm-up against its last window."""

    service: str
    lives: int
    life_s: float
    window_s: float
    first_mb: float
    last_mb: float
    peak_mb: float

    @property
    def change(self) -> float:
        return self.last_mb / self.first_mb - 1 if self.first_mb else float("nan")

    @property
    def flat(self) -> bool:
        return abs(self.change) <= RSS_FLAT_TARGET


def rss_flatness(samples: Sequence[Sample], warmup_s: float, window_s: float) -> list[Flatness]:
    """Per service, over the life (pid) with the most samples. A life too short for warm-up + two windows
    is cut in quarters instead: the second quarter against the last."""
    lives: dict[str, dict[int, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        lives[sample.service][sample.pid].append(sample)
    out = []
    for service, by_pid in lives.items():
        life = max(by_pid.values(), key=lambda s: (s[-1].t_s - s[0].t_s, len(s)))
        start, end = life[0].t_s, life[-1].t_s
        span = end - start
        warm, window = warmup_s, window_s
        if span < warmup_s + 2 * window_s:
            warm = window = span / 4
        first = [s.rss_mb for s in life if start + warm <= s.t_s < start + warm + window]
        last = [s.rss_mb for s in life if s.t_s > end - window]
        if not first or not last:
            continue
        out.append(
            Flatness(
                service,
                len(by_pid),
                span,
                window,
                sum(first) / len(first),
                sum(last) / len(last),
                max(s.rss_mb for s in life),
            )
        )
    return out


@dataclass
class RowCheck:
    answers_200: int
    distinct_ids: int
    rows: int  # rows in the history table
    lost: list[str]  # ids of 200 answers without a row
    duplicate_ids: int  # 200 answers sharing an id
    unanswered_rows: int  # rows no 200 answer named (in flight when the gateway died, or timed out)
    history_warnings: int  # 200 answers saying they were not saved
    other_users: int  # rows not owned by the soak's account


def check_rows(outcomes: Sequence[Outcome], database: Path) -> RowCheck:
    """Every 200 answer's id must be exactly one history row (read after the stack stopped)."""
    ids = [o.answer_id for o in outcomes if o.status == 200 and o.answer_id]
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT a.id, u.username FROM analyses a LEFT JOIN users u ON u.id = a.user_id")
        owners = dict(rows.fetchall())
    counted = Counter(ids)
    return RowCheck(
        answers_200=sum(1 for o in outcomes if o.status == 200),
        distinct_ids=len(counted),
        rows=len(owners),
        lost=sorted(i for i in counted if i not in owners),
        duplicate_ids=sum(n - 1 for n in counted.values() if n > 1),
        unanswered_rows=len(set(owners) - set(counted)),
        history_warnings=sum(1 for o in outcomes if any("not saved to the history" in w for w in o.warnings)),
        other_users=sum(1 for owner in owners.values() if owner != USERNAME),
    )


def attach_answer_times(restarts: Sequence[Restart], outcomes: Sequence[Outcome]) -> None:
    """Kill -> the first answer after the kill that includes the process again (a 200 for the gateway)."""
    ok = sorted((o for o in outcomes if o.status == 200), key=lambda o: o.done_s)
    for restart in restarts:
        if restart.killed_s is None:
            continue
        for o in ok:
            if o.sent_s > restart.killed_s and (
                restart.target == "gateway" or restart.target in o.answered_by
            ):
                restart.in_answers_s = o.done_s - restart.killed_s
                break


def attach_supervisor_times(restarts: Sequence[Restart], events: Sequence[dict[str, Any]]) -> None:
    """The launcher's own kill -> /health figure: its n-th 'recovered' event of a process for the n-th kill."""
    recovered: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if event.get("event") == "recovered" and event.get("down_s") is not None:
            recovered[event["service"]].append(float(event["down_s"]))
    seen: Counter = Counter()
    for restart in restarts:
        if restart.killed_s is None:
            continue
        figures = recovered.get(restart.target, [])
        if seen[restart.target] < len(figures):
            restart.supervisor_down_s = figures[seen[restart.target]]
        seen[restart.target] += 1


def gateway_down_windows(restarts: Sequence[Restart], end_s: float) -> list[tuple[float, float]]:
    windows = []
    for r in restarts:
        if r.target == "gateway" and r.killed_s is not None:
            back = r.killed_s + r.back_s if r.back_s is not None else end_s
            windows.append((r.killed_s, back + DOWN_GRACE_S))
    return windows


@dataclass
class SoakResult:
    options: SoakOptions
    fingerprint: str
    detectors: list[str]
    outcomes: list[Outcome]
    restarts: list[Restart]
    samples: list[Sample]
    duration_s: float
    rows: RowCheck
    flatness: list[Flatness]
    supervision: dict[str, Any]  # the launcher's report just before the stack stopped
    launcher_exit: int | None
    load_before: float
    load_after: float
    aborted: str | None = None  # why the soak stopped before sending every request
    launcher_tail: str = ""  # the launcher's last lines, when it aborted
    workdir: str | None = None  # kept when something went wrong

    @property
    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not None and o.status >= 500]

    @property
    def connection_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error == "connection"]

    @property
    def timeouts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error == "timeout"]

    def connection_errors_outside_down_windows(self) -> list[Outcome]:
        windows = gateway_down_windows(self.restarts, self.duration_s)
        return [o for o in self.connection_errors if not any(a <= o.done_s <= b for a, b in windows)]

    @property
    def unexplained_restarts(self) -> dict[str, int]:
        """Restarts the launcher made beyond the soak's kills (e.g. a health check that timed out)."""
        kills = Counter(r.target for r in self.restarts if r.killed_s is not None)
        services = self.supervision.get("services", {})
        out = {name: s.get("restarts", 0) - kills[name] for name, s in services.items()}
        return {name: n for name, n in out.items() if n}

    def figures(self) -> dict[str, Any]:
        """The headline figures (what the targets are about)."""
        flat = [f for f in self.flatness if f.service != "launcher"]
        worst = max(flat, key=lambda f: abs(f.change), default=None)
        return {
            "requests": len(self.outcomes),
            "planned": self.options.requests,
            "aborted": self.aborted,
            "server_errors": len(self.server_errors),
            "lost_rows": len(self.rows.lost),
            "connection_errors": len(self.connection_errors),
            "connection_errors_outside_gateway_down": len(self.connection_errors_outside_down_windows()),
            "timeouts": len(self.timeouts),
            "answers_200": self.rows.answers_200,
            "rows": self.rows.rows,
            "rss_worst_change": None if worst is None else round(worst.change, 4),
            "rss_worst_service": None if worst is None else worst.service,
            "rss_flat": bool(flat) and all(f.flat for f in flat),
            "kills": sum(1 for r in self.restarts if r.killed_s is not None),
            "all_back": all(r.back_s is not None for r in self.restarts if r.killed_s is not None),
        }


# ---- the report ----------------------------------------------------------------------------------------


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "- | - | - | -"
    return " | ".join(f"{percentile(values, q):.0f}" for q in (50, 90, 99)) + f" | {max(values):.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(result: SoakResult) -> str:
    o = result.options
    figures = result.figures()
    outcomes = result.outcomes
    malformed = sum(1 for x in outcomes if x.malformed)
    lines = [
        f"{len(outcomes)} requests (seed {o.seed}; {malformed} malformed = {malformed / max(1, len(outcomes)):.0%}; "
        f"{o.concurrency} concurrent clients) through the stack as `make start` runs it: "
        f"`python -m scripts.launcher start`, supervising and restarting every process, on free ports, "
        f"with the registry's enabled detectors ({', '.join(result.detectors)}), a temporary data dir "
        f"(SQLite history), auth on (a real account; {1 - BEARER_SHARE:.0%} of requests carry its API key, "
        f"the rest its bearer token) and **`TRIBUNAL_DETECT_PER_MINUTE` raised to {DETECT_PER_MINUTE:,}** "
        f"so the soak is never throttled. Plan sha256 `{result.fingerprint[:16]}`: the same seed and N "
        f"send the same requests. {figures['kills']} SIGKILLs on a schedule (detectors round robin, the "
        f"gateway once at {o.gateway_restart_at or 0:.0%} of the requests); a client whose connection "
        f"is refused waits {o.connect_pause_s:g} s before its next request. Load average (1 min) "
        f"{result.load_before:.1f} before, {result.load_after:.1f} after, on 2 shared cores; took "
        f"{result.duration_s:.0f} s ({len(outcomes) / max(result.duration_s, 1e-9):.1f} requests/s).",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| requests sent | {len(outcomes)} of {o.requests} | all |",
        f"| 5xx answers | {figures['server_errors']} | 0 |",
        f"| lost rows (200 answers without their history row) | {figures['lost_rows']} "
        f"of {result.rows.answers_200} | 0 |",
    ]
    worst = figures["rss_worst_change"]
    lines.append(
        "| RSS, last minute vs first minute after warm-up (worst process) | "
        + ("-" if worst is None else f"{worst:+.1%} ({figures['rss_worst_service']})")
        + f" | within ±{RSS_FLAT_TARGET:.0%} |"
    )
    outside = figures["connection_errors_outside_gateway_down"]
    lines.append(
        f"| connection errors (no HTTP answer) | {figures['connection_errors']}"
        + (", all while the gateway was down" if not outside else f", **{outside} while it was up**")
        + " | not 5xx; only while it is down |"
    )
    lines.append(f"| client timeouts ({o.request_timeout_s:g} s) | {figures['timeouts']} | 0 |")
    detector_backs = [r.back_s for r in result.restarts if r.target != "gateway" and r.back_s is not None]
    if detector_backs:
        lines.append(
            f"| slowest detector back (kill → `/ready` 200) | {max(detector_backs):.1f} s | "
            f"≤ {DETECTOR_BACK_TARGET_S:g} s |"
        )
    lines += _status_table(outcomes) + _latency_table(outcomes) + _restart_table(result)
    lines += _rss_tables(result) + _notes(result)
    return "\n".join(lines)


def _status_table(outcomes: Sequence[Outcome]) -> list[str]:
    def column(x: Outcome) -> str:
        return str(x.status) if x.status is not None else x.error or "?"

    columns = sorted({column(x) for x in outcomes}, key=lambda c: (not c.isdigit(), c))
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for x in outcomes:
        by_kind[x.kind][column(x)] += 1
    lines = [
        "",
        "### Status codes by kind of request",
        "",
        "| kind | n | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for kind in (k for k in KINDS if k in by_kind):
        counts = by_kind[kind]
        cells = " | ".join(str(counts[c]) if counts[c] else "" for c in columns)
        lines.append(f"| {kind} | {sum(counts.values())} | {cells} |")
    total = Counter(column(x) for x in outcomes)
    lines.append(f"| **all** | {len(outcomes)} | " + " | ".join(str(total[c]) for c in columns) + " |")
    degraded = sum(1 for x in outcomes if x.status == 200 and x.degraded)
    ok = sum(1 for x in outcomes if x.status == 200)
    lines += ["", f"{degraded} of the {ok} 200 answers were degraded (a detector down or its breaker open)."]
    return lines


def _latency_table(outcomes: Sequence[Outcome]) -> list[str]:
    groups = {
        "valid, 200": [x.latency_ms for x in outcomes if not x.malformed and x.status == 200],
        "valid, 200, not degraded": [
            x.latency_ms for x in outcomes if not x.malformed and x.status == 200 and not x.degraded
        ],
        "malformed, answered": [x.latency_ms for x in outcomes if x.malformed and x.status is not None],
        "every HTTP answer": [x.latency_ms for x in outcomes if x.status is not None],
    }
    lines = [
        "",
        "### Latency (ms, client side)",
        "",
        "| requests | n | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {len(values)} | {_ms(values)} |" for label, values in groups.items()]
    return lines


def _restart_table(result: SoakResult) -> list[str]:
    lines = [
        "",
        "### Kills and restarts",
        "",
        "Back = SIGKILL → the process answers again (a detector's `/ready`, the gateway's `/health`), polled "
        "every 0.1 s; in answers = SIGKILL → the first `/detect` answer sent after the kill that includes "
        "the detector again (for the gateway: the first 200); launcher = its own kill → `/health` figure.",
        "",
        "| at request | t (s) | process | back (s) | in answers (s) | launcher (s) | note |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in result.restarts:
        lines.append(
            f"| {r.at_request} | {_s(r.killed_s)} | {r.target} | {_s(r.back_s)} | {_s(r.in_answers_s)} | "
            f"{_s(r.supervisor_down_s)} | {r.note} |"
        )
    services = result.supervision.get("services", {})
    if services:
        restarts = ", ".join(
            f"{name} {s.get('restarts', 0)} ({s.get('state')})" for name, s in services.items()
        )
        lines += ["", f"The launcher's report at the end: {restarts}; it exited with {result.launcher_exit}."]
    return lines


def _rss_tables(result: SoakResult) -> list[str]:
    o = result.options
    services = list(dict.fromkeys(s.service for s in result.samples))
    if not services:
        return []
    bucket = max(o.rss_interval_s, 60.0 if result.duration_s >= 600 else result.duration_s / 10)
    kills: dict[int, list[str]] = defaultdict(list)
    for r in result.restarts:
        if r.killed_s is not None:
            kills[int(r.killed_s // bucket)].append(f"{r.target} killed")
    cells: dict[tuple[int, str], list[float]] = defaultdict(list)
    for s in result.samples:
        cells[(int(s.t_s // bucket), s.service)].append(s.rss_mb)
    lines = [
        "",
        f"### RSS over time (MB, each process summed over its process group, sampled every "
        f"{o.rss_interval_s:g} s; the mean of each {bucket:.0f} s)",
        "",
        "| from (s) | " + " | ".join(services) + " | events |",
        "|---:|" + "---:|" * len(services) + "---|",
    ]
    for b in range(int(max(s.t_s for s in result.samples) // bucket) + 1):
        row = []
        for name in services:
            values = cells.get((b, name))
            row.append(f"{sum(values) / len(values):.0f}" if values else "-")
        lines.append(f"| {b * bucket:.0f} | " + " | ".join(row) + f" | {', '.join(kills.get(b, []))} |")
    lines += [
        "",
        "### RSS flatness",
        "",
        f"Each process's longest life (a restart starts a new one), the mean of its first {o.window_s:g} s "
        f"after a {o.warmup_s:g} s warm-up against the mean of its last {o.window_s:g} s (a life shorter "
        "than warm-up + two windows is cut in quarters: the second against the last).",
        "",
        "| process | lives | longest life (s) | window (s) | first (MB) | last (MB) | change | peak (MB) | flat |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in result.flatness:
        lines.append(
            f"| {f.service} | {f.lives} | {f.life_s:.0f} | {f.window_s:.0f} | {f.first_mb:.0f} | "
            f"{f.last_mb:.0f} | {f.change:+.1%} | {f.peak_mb:.0f} | {'yes' if f.flat else '**no**'} |"
        )
    return lines


def _notes(result: SoakResult) -> list[str]:
    notes = []
    if result.aborted:
        tail = result.launcher_tail.replace("\n", " / ")
        notes.append(
            f"**Aborted** after {len(result.outcomes)} of {result.options.requests} requests: "
            f"{result.aborted}. Its last lines: `{tail}`"
        )
    rows = result.rows
    notes.append(
        f"{rows.answers_200} answers were 200 with {rows.distinct_ids} distinct ids; the history holds "
        f"{rows.rows} rows ({rows.unanswered_rows} without a 200 answer: requests in flight when the gateway "
        f"was killed, whose row was written but whose answer never arrived)."
    )
    if rows.lost:
        notes.append(f"**Lost rows**: {', '.join(rows.lost[:10])}{' …' if len(rows.lost) > 10 else ''}.")
    if rows.duplicate_ids or rows.history_warnings or rows.other_users:
        notes.append(
            f"**Also**: {rows.duplicate_ids} repeated ids, {rows.history_warnings} answers saying they were "
            f"not saved, {rows.other_users} rows of another account."
        )
    for x in result.server_errors[:10]:
        notes.append(
            f"**5xx**: request {x.index} ({x.kind}, {x.path}) at {x.sent_s:.1f} s answered {x.status}: "
            f"`{(x.body or '').strip()[:200]}`"
        )
    outside = result.connection_errors_outside_down_windows()
    if outside:
        times = ", ".join(f"{x.done_s:.1f} s" for x in outside[:10])
        notes.append(f"**Connection errors while the gateway was up**: {len(outside)} (at {times}).")
    unexplained = result.unexplained_restarts
    if unexplained:
        notes.append(
            "**Restarts the soak did not cause** (the launcher's count minus the kills): "
            + ", ".join(f"{name} {n:+d}" for name, n in unexplained.items())
            + "."
        )
    wrong_200 = Counter(x.kind for x in result.outcomes if x.malformed and x.status == 200)
    if wrong_200:
        notes.append(
            "Malformed requests answered 200 (the bytes were still a decodable image): "
            + ", ".join(f"{kind} {n}" for kind, n in wrong_200.items())
            + "."
        )
    if result.workdir:
        notes.append(f"Logs and database kept in `{result.workdir}`.")
    return ["", "### Notes", "", *[f"- {n}" for n in notes]]


# ---- the whole run -------------------------------------------------------------------------------------


def run(options: SoakOptions, log: Callable[[str], None] = print, keep: bool = False) -> SoakResult:
    """Start the stack, soak it, stop it, check the history; the result (``render`` makes the report)."""
    pool = image_pool(options.seed, options.pool_size)
    specs = plan_requests(options)
    fingerprint = plan_fingerprint(specs, pool)
    workdir = Path(tempfile.mkdtemp(prefix="tribunal-soak-"))
    load_before = os.getloadavg()[0]
    stack = start_stack(options, workdir, log)
    exit_code = None
    try:
        actions = schedule(options, list(stack.detectors))
        password = hashlib.sha256(f"soak-{options.seed}-{time.time()}".encode()).hexdigest()[:24]
        credentials = open_account(stack.gateway, password)
        log(f"stack up at {stack.gateway}; sending {len(specs)} requests (plan {fingerprint[:16]})")
        soak = Soak(options, stack, credentials, specs, pool, actions, log)
        duration = asyncio.run(soak.run())
        _wait_for_recoveries(stack, soak.restarts)
        supervision = stack.supervision()
    finally:
        exit_code = stack.stop()
    load_after = os.getloadavg()[0]
    outcomes = sorted(soak.outcomes, key=lambda x: x.index)
    attach_answer_times(soak.restarts, outcomes)
    attach_supervisor_times(soak.restarts, stack.launcher_events())
    result = SoakResult(
        options=options,
        fingerprint=fingerprint,
        detectors=list(stack.detectors),
        outcomes=outcomes,
        restarts=soak.restarts,
        samples=soak.samples,
        duration_s=duration,
        rows=check_rows(outcomes, stack.database),
        flatness=rss_flatness(soak.samples, options.warmup_s, options.window_s),
        supervision=supervision,
        launcher_exit=exit_code,
        load_before=load_before,
        load_after=load_after,
        aborted=soak.aborted,
        launcher_tail="\n".join(stack.output().splitlines()[-8:]) if soak.aborted else "",
    )
    f = result.figures()
    trouble = (
        f["server_errors"] or f["lost_rows"] or f["connection_errors_outside_gateway_down"] or f["timeouts"]
    )
    if keep or trouble or not f["all_back"] or exit_code != 0 or result.aborted:
        result.workdir = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _wait_for_recoveries(stack: Stack, restarts: Sequence[Restart], timeout_s: float = 10.0) -> None:
    """Give the launcher a moment to log its own "recovered" event for each process that is back."""
    expected = Counter(r.target for r in restarts if r.back_s is not None)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and stack.process.poll() is None:
        seen = Counter(e.get("service") for e in stack.launcher_events() if e.get("event") == "recovered")
        if all(seen[name] >= n for name, n in expected.items()):
            return
        time.sleep(0.2)


def to_json(result: SoakResult) -> dict[str, Any]:
    options = asdict(result.options)
    options["registry"] = str(options["registry"])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "options": options,
        "figures": result.figures(),
        "fingerprint": result.fingerprint,
        "detectors": result.detectors,
        "duration_s": result.duration_s,
        "rows": asdict(result.rows),
        "restarts": [asdict(r) for r in result.restarts],
        "flatness": [{**asdict(f), "change": f.change} for f in result.flatness],
        "supervision": result.supervision,
        "launcher_exit": result.launcher_exit,
        "launcher_tail": result.launcher_tail,
        "load": [result.load_before, result.load_after],
        "workdir": result.workdir,
        "samples": [asdict(s) for s in result.samples],
        "outcomes": [asdict(o) for o in result.outcomes],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = SoakOptions()
    parser.add_argument(
        "--requests", "-n", type=int, default=defaults.requests, help="N (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--malformed", type=float, default=defaults.malformed, help="share of malformed requests"
    )
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--detector-kills", type=int, default=defaults.detector_kills)
    parser.add_argument("--kill", action="append", default=[], help="kill only these detectors (repeatable)")
    parser.add_argument(
        "--gateway-restart-at",
        type=float,
        default=defaults.gateway_restart_at,
        help="share of the requests after which the gateway is killed; negative: never",
    )
    parser.add_argument("--rss-interval", type=float, default=defaults.rss_interval_s)
    parser.add_argument("--warmup", type=float, default=defaults.warmup_s, help="RSS warm-up, seconds")
    parser.add_argument(
        "--window", type=float, default=defaults.window_s, help="RSS windows compared, seconds"
    )
    parser.add_argument("--registry", type=Path, default=defaults.registry)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="raw figures (default %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary logs and database")
    args = parser.parse_args(argv)
    if args.requests < 1 or not 0 <= args.malformed <= 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1, --malformed within 0-1")
    options = SoakOptions(
        requests=args.requests,
        seed=args.seed,
        malformed=args.malformed,
        concurrency=args.concurrency,
        detector_kills=args.detector_kills,
        kill=tuple(args.kill),
        gateway_restart_at=None if args.gateway_restart_at < 0 else args.gateway_restart_at,
        rss_interval_s=args.rss_interval,
        warmup_s=args.warmup,
        window_s=args.window,
        registry=args.registry,
    )
    result = run(options, keep=args.keep)
    body = render(result)
    print("\n" + body)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(to_json(result), indent=1))
    print(f"\nraw figures: {args.json}")
    if not args.no_write:
        command = (
            f"make soak N={options.requests}  # python -m scripts.bench.soak --requests {options.requests}"
        )
        if options.seed != DEFAULT_SEED:
            command += f" --seed {options.seed}"
        path = write_section(
            "soak", "Soak: malformed uploads, killed detectors, a gateway restart (issue 13)", body, command
        )
        print(f"written to {path}")
    f = result.figures()
    return 0 if not (f["server_errors"] or f["lost_rows"] or f["aborted"]) and f["all_back"] else 1


if __name__ == "__main__":
    sys.exit(main())
