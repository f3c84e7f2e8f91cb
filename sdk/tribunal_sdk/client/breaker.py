"""A circuit breaker per detector, so a dead or hung detector stops costing every request its timeout.

    closed ──(N consecutive failures, or one hard failure)──▶ open ──(health probe: ready)──▶ closed

A hard failure is one that cost the caller the detector's whole timeout: one is enough to open the
breaker, so a detector that stops answering delays one request, not N. While open, every call is
refused at once; no user request is used as a trial. Something else — the fan-out client's
background health probe (tribunal_sdk/client/fanout.py) — finds out when the detector is back and closes it.
A call that was already in flight and succeeds also closes it: the detector answered.
"""

from __future__ import annotations

from typing import Literal

BreakerState = Literal["closed", "open"]


class CircuitBreaker:
    """Consecutive-failure breaker that only a success closes. Not thread-safe; used from one event loop."""

    def __init__(self, failure_threshold: int = 3):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.consecutive_failures = 0
        self._open = False

    @property
    def state(self) -> BreakerState:
        return "open" if self._open else "closed"

    def allow(self) -> bool:
        """Whether a call may go out now."""
        return not self._open

    def record_success(self) -> None:
        """The detector answered (a call or a health probe): close the breaker, forget the failures."""
        self.consecutive_failures = 0
        self._open = False

    def record_failure(self, hard: bool = False) -> bool:
        """Count a failed call; ``hard`` (a timeout) opens the breaker at once. True when this call opened it."""
        self.consecutive_failures += 1
        was_open = self._open
        if hard or self.consecutive_failures >= self.failure_threshold:
            self._open = True
        return self._open and not was_open
