"""Interactive detections go first: batch items start only when /detect and /predict are quiet.

    gate = InteractiveGate(quiet_s=0.5, max_wait_s=5.0)
    app.add_middleware(InteractiveTraffic, gate=gate)   # counts the interactive requests in flight
    await gate.wait_turn()                              # a batch worker, before starting an item

The gateway cannot pre-empt an item already at the detectors, so the most an interactive request
waits behind batch work is the items in flight (at most ``jobs_concurrency``). Batch items start
only once no interactive detection has been in flight for ``quiet_s``; under unbroken interactive
load an item still starts after ``max_wait_s``, so a job slows down but never stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

INTERACTIVE_PATHS = frozenset({"/detect", "/predict"})
_POLL_S = 0.05


class InteractiveGate:
    """Counts interactive detections in flight; batch workers wait their turn here."""

    def __init__(self, quiet_s: float, max_wait_s: float, clock: Callable[[], float] = time.monotonic):
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self.in_flight = 0
        self.last_end = float("-inf")
        self.waited_s = 0.0  # total time batch work yielded (for logs and the bench)

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        self.last_end = self._clock()

    def busy(self) -> bool:
        return self.in_flight > 0 or self._clock() - self.last_end < self.quiet_s

    async def wait_turn(self) -> None:
        """Return once interactive traffic has been quiet for quiet_s, or after max_wait_s at most."""
        started = self._clock()
        deadline = started + self.max_wait_s
        while self.busy():
            now = self._clock()
            if now >= deadline:
                break
            quiet_left = self.last_end + self.quiet_s - now if self.in_flight == 0 else _POLL_S
            await asyncio.sleep(max(0.001, min(quiet_left, _POLL_S, deadline - now)))
        self.waited_s += self._clock() - started


class InteractiveTraffic:
    """ASGI middleware: each interactive detection request holds the gate busy while it runs."""

    def __init__(self, app: ASGIApp, gate: InteractiveGate, paths: frozenset[str] = INTERACTIVE_PATHS):
        self.app = app
        self.gate = gate
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        self.gate.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()
