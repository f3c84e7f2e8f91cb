"""A circuit breaker per detector, so a dead or hung detector stops costing every request its timeout.

    closed ──(N consecutive failures)──▶ open ──(cooldown elapsed)──▶ half_open
      ▲                                   ▲                              │ one trial request
      └──────────── trial succeeds ───────┼──────── trial fails ─────────┘

While open, calls are refused at once. After the cooldown exactly one trial call is let through;
its result closes the breaker or opens it for another cooldown. Other calls arriving while the trial
is in flight are refused, so a hung detector costs one timeout per cooldown, not one per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Consecutive-failure breaker with a cooldown. Not thread-safe; used from one event loop."""

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if cooldown_s <= 0:
            raise ValueError("cooldown_s must be > 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.consecutive_failures = 0

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._trial_in_flight or self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def retry_in_s(self) -> float:
        """Seconds until a trial call is allowed (0 when one would be allowed now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state this claims the single trial slot."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self._trial_in_flight or self.consecutive_failures >= self.failure_threshold:
            # A failed trial restarts the cooldown, as does crossing the threshold.
            self._opened_at = self._clock()
        self._trial_in_flight = False

    def abandon(self) -> None:
        """The call was cancelled before it told us anything: free the trial slot, change nothing else."""
        self._trial_in_flight = False
