"""The load lifecycle of one model: not loaded → loading → ready, or failed with a reason."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from threadpoolctl import threadpool_limits

from tribunal_sdk.detector import Detector
from tribunal_sdk.errors import NotReady, WeightsUnavailable

log = logging.getLogger("tribunal.sdk")


def limit_cpu_threads(n: int) -> None:
    """Cap the thread pools a model computes with: torch's intra-op pool (process-wide), and OpenMP/BLAS
    as seen from the calling thread (the model's worker thread, where every predict_batch runs)."""
    torch = sys.modules.get("torch")  # only a detector that uses torch has imported it by now
    if torch is not None:
        torch.set_num_threads(n)
    threadpool_limits(limits=n)


Status = Literal["not_loaded", "loading", "ready", "failed"]


class ModelState:
    """Loads the detector on the model's own worker thread, once, and remembers how it went."""

    def __init__(self, detector: Detector, executor: ThreadPoolExecutor, cpu_threads: int | None = None):
        self.detector = detector
        self._executor = executor
        self.cpu_threads = cpu_threads
        self.status: Status = "not_loaded"
        self.reason: str | None = "not loaded yet"
        self.load_seconds: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def start_loading(self) -> asyncio.Task[None]:
        """Begin loading in the background (idempotent); returns the task to await if needed."""
        if self._task is None:
            self.status, self.reason = "loading", "model is loading"
            self._task = asyncio.get_running_loop().create_task(self._load(), name="model-load")
        return self._task

    async def _load(self) -> None:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._load_on_worker)
        except WeightsUnavailable as exc:
            self.status, self.reason = "failed", f"weights unavailable: {exc}"
            log.error("model not ready", extra={"reason": self.reason})
            return
        except Exception as exc:
            self.status, self.reason = "failed", f"load() raised {type(exc).__name__}: {exc}"
            log.exception("model load failed")
            return
        self.load_seconds = time.perf_counter() - started
        self.status, self.reason = "ready", None
        log.info("model ready", extra={"load_seconds": round(self.load_seconds, 3)})

    def _load_on_worker(self) -> None:
        """On the model's worker thread: load, then cap the CPU threads of what load() brought in."""
        self.detector.load()
        if self.cpu_threads is not None:
            limit_cpu_threads(self.cpu_threads)

    async def ensure_ready(self, timeout_s: float) -> None:
        """For /predict: start (lazy) or join the load and wait for it, up to ``timeout_s``."""
        if self.status == "ready":
            return
        if self.status == "failed":
            raise NotReady(self.reason or "model failed to load")
        task = self.start_loading()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError as exc:
            raise NotReady(f"model still loading after {timeout_s:.0f} s") from exc
        if self.status != "ready":
            raise NotReady(self.reason or "model failed to load")
