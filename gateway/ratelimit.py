"""Per-key request limits (a token bucket per user or client address), kept in this process's memory.

    limiter = RateLimiter(per_minute=30)
    limiter.check("user:7")      # raises RateLimited with retry_after_s when the bucket is empty

A bucket holds up to ``per_minute`` requests and refills continuously, so a user can burst a
minute's worth and then goes on at the steady rate. Several gateway replicas each count on their
own; a shared store would be the next step for that.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from gateway.errors import RateLimited

# Buckets untouched this long are full again anyway; forgetting them bounds the memory.
_FORGET_AFTER_S = 600.0


class RateLimiter:
    """Allows ``per_minute`` requests per key; 0 disables the limit."""

    def __init__(self, per_minute: int, what: str = "requests", clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.what = what
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()  # sync routes run in a thread pool
        self._last_sweep = clock()

    def check(self, key: str) -> None:
        """Take one request from ``key``'s bucket, or raise RateLimited saying how long to wait."""
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            self._sweep(now)
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimited(
                    f"too many {self.what}: the limit is {self.per_minute} per minute; retry in {wait} s",
                    retry_after_s=wait,
                    extra={"limit_per_minute": self.per_minute},
                )
            self._buckets[key] = (tokens - 1.0, now)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < _FORGET_AFTER_S:
            return
        self._last_sweep = now
        for key, (_, last) in list(self._buckets.items()):
            if now - last > _FORGET_AFTER_S:
                del self._buckets[key]
