"""Keeping a process's memory bounded while it decodes large images.

Three parts, used by every detector service (``tribunal_sdk.app``) and by the gateway:

- ``MemoryBudget``: a per-process admission gate weighted by the bytes a request will hold once its
  image is decoded (``ImageHeader.decoded_bytes``). Requests that fit go straight through; the rest
  queue in arrival order for at most ``max_wait_s`` and are then refused with 503 and ``Retry-After``,
  so a burst of 40 MP uploads waits or is turned away instead of pushing the machine into swap.
  A request heavier than the whole budget is admitted when it would run alone, so no valid upload is
  refused forever.
- ``tune_allocator``: glibc settings that let freed image buffers go back to the system. By default
  glibc raises its mmap threshold after the first large free, so the next 16 MB Pillow blocks come
  from the heap, where fragmentation keeps them resident after the image is gone (measured: detectors
  still 0.3-0.6 GB above baseline two minutes after a burst). A fixed threshold keeps big buffers on
  mmap (returned on free), and few arenas keep the worker threads from each growing their own heap.
- ``release_memory``: ``malloc_trim(0)`` after a large request, for what stayed in the heaps anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tribunal_sdk.errors import TribunalError

MB = 1024 * 1024
# A 40 MP image (the default pixel cap) is 160 MB decoded (Pillow keeps RGB as 4 bytes a pixel): the
# default budget holds one of them at a time per process, or several ordinary photos (a 12 MP one is
# 48 MB). One huge image at a time already keeps two cores busy (each detector decodes and scores it
# in parallel); admitting two at once doubled their latency on the 2-core bench machine for no gain.
DEFAULT_BUDGET_MB = 256.0
DEFAULT_WAIT_S = 2.0
# Requests at least this heavy are "large": the heaps are trimmed after them.
TRIM_AFTER_BYTES = 32 * MB

# glibc mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Allocations from this size up are mmapped and unmapped on free, so a decoded upload (a 40 MP image
# is 160 MB) goes back to the system as soon as it is dropped; fixing it also stops glibc from moving
# the threshold after the first large free. 32 MiB is glibc's maximum and keeps the models' own
# working buffers (a few MB each, reused every request) on the heap: at 1 MiB every forward pass
# mapped and unmapped them, which doubled clip_universal's time per 1024x1024 image (510 -> 1015 ms).
MMAP_THRESHOLD_BYTES = 32 * MB
ARENA_MAX = 2


class MemorySettings(BaseSettings):
    """The budget knobs, shared by detector services and the gateway (``TRIBUNAL_`` variables)."""

    model_config = SettingsConfigDict(env_prefix="TRIBUNAL_", extra="ignore")

    memory_budget_mb: float = Field(
        DEFAULT_BUDGET_MB,
        gt=0,
        description="decoded image bytes this process may hold at once; beyond it requests queue, then 503",
    )
    memory_wait_s: float = Field(
        DEFAULT_WAIT_S, ge=0, description="how long a request may queue for the memory budget before a 503"
    )

    def budget(self, name: str = "process") -> MemoryBudget:
        return MemoryBudget(int(self.memory_budget_mb * MB), self.memory_wait_s, name=name)


class OverMemoryBudget(TribunalError):
    """503: the process is holding as many decoded images as its budget allows; retry shortly."""

    status_code = 503
    code = "over_memory_budget"

    def __init__(self, detail: str, retry_after_s: int):
        super().__init__(detail, extra={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(retry_after_s)}


class MemoryBudget:
    """An asyncio gate admitting requests by weight (bytes), first come first served.

    Strict FIFO: a large request at the head of the queue is not overtaken by a stream of small ones.
    Not thread-safe: use it from one event loop.
    """

    def __init__(self, limit_bytes: int, max_wait_s: float, *, name: str = "process"):
        if limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be positive, got {limit_bytes}")
        self.limit = int(limit_bytes)
        self.max_wait_s = float(max_wait_s)
        self.name = name
        self.in_use = 0
        self.holders = 0
        self.peak = 0
        self.admitted = 0
        self.refused = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        # Typical time a large request holds its share, for Retry-After (seconds, moving average).
        self._hold_s = 1.0

    @property
    def waiting(self) -> int:
        return sum(1 for _, fut in self._waiters if not fut.done())

    def _fits(self, weight: int) -> bool:
        return self.holders == 0 or self.in_use + weight <= self.limit

    def _take(self, weight: int) -> None:
        self.in_use += weight
        self.holders += 1
        self.admitted += 1
        self.peak = max(self.peak, self.in_use)

    def _wake(self) -> None:
        while self._waiters:
            weight, fut = self._waiters[0]
            if fut.done():  # gave up (timed out or cancelled)
                self._waiters.popleft()
                continue
            if not self._fits(weight):
                return
            self._waiters.popleft()
            self._take(weight)
            fut.set_result(None)

    def _release(self, weight: int) -> None:
        self.in_use -= weight
        self.holders -= 1
        self._wake()

    def retry_after_s(self) -> int:
        """Seconds a refused client should wait: about as long as a large request holds its share."""
        return max(1, math.ceil(self._hold_s))

    def _refusal(self, weight: int) -> OverMemoryBudget:
        self.refused += 1
        retry = self.retry_after_s()
        return OverMemoryBudget(
            f"busy: this image needs about {weight / MB:.0f} MB once decoded and the {self.name}'s memory "
            f"budget ({self.limit / MB:.0f} MB, TRIBUNAL_MEMORY_BUDGET_MB) is held by other large images "
            f"({self.in_use / MB:.0f} MB in use, waited {self.max_wait_s:g} s); retry in {retry} s",
            retry_after_s=retry,
        )

    async def _acquire(self, weight: int) -> None:
        if not self._waiters and self._fits(weight):
            self._take(weight)
            return
        if self.max_wait_s <= 0:
            raise self._refusal(weight)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((weight, fut))
        try:
            async with asyncio.timeout(self.max_wait_s):
                await fut
        except TimeoutError:
            if fut.done() and not fut.cancelled():
                return  # admitted just as the wait ran out: keep the place
            fut.cancel()
            self._wake()  # a waiter behind this one may fit now
            raise self._refusal(weight) from None
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release(weight)
            else:
                fut.cancel()
                self._wake()
            raise

    @contextlib.asynccontextmanager
    async def hold(self, weight: int) -> AsyncIterator[None]:
        """Hold ``weight`` bytes of the budget for the body of the ``async with``."""
        weight = max(0, int(weight))
        await self._acquire(weight)
        started = time.monotonic()
        try:
            yield
        finally:
            if weight * 8 >= self.limit:
                self._hold_s = 0.7 * self._hold_s + 0.3 * (time.monotonic() - started)
            self._release(weight)


# ---- the allocator --------------------------------------------------------------------------------

_libc: ctypes.CDLL | None = None
_libc_checked = False
_tuned = False
_lock = threading.Lock()


def _glibc() -> ctypes.CDLL | None:
    global _libc, _libc_checked
    with _lock:
        if not _libc_checked:
            _libc_checked = True
            name = ctypes.util.find_library("c")
            try:
                libc = ctypes.CDLL(name or "libc.so.6")
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = libc
            except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
                _libc = None
        return _libc


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold and cap its arenas (once per process); False where there is no glibc.

    Call it early (before worker threads start) so every thread shares the capped arenas.
    """
    global _tuned
    libc = _glibc()
    if libc is None:
        return False
    with _lock:
        if not _tuned:
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
            libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
            _tuned = True
    return True


def release_memory() -> bool:
    """Give freed heap memory back to the system (``malloc_trim(0)``); False where there is no glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


async def release_after(budget: MemoryBudget, weight: int) -> None:
    """After a large request: trim the heaps once no other large request is running."""
    if weight >= TRIM_AFTER_BYTES and budget.in_use < TRIM_AFTER_BYTES:
        await asyncio.to_thread(release_memory)
