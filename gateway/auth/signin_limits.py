"""Sign-in limits against password guessing: every attempt counts per client address and per account.

    limits = SignInLimits(per_address=10, per_account=5)
    limits.count_sign_in("203.0.113.7", "alice")   # before the password check; SignInThrottled if over
    limits.count_address("203.0.113.7")            # sign-ups and token refreshes: the address only

The account limit holds whichever address the guesses come from; the price is that someone guessing
alice's password also keeps alice out until the guessing stops (she gets a 429 saying so, never a
misleading 401). Unknown usernames are counted like real ones, so the limit reveals nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from gateway.auth.accounts import normalise_username
from gateway.auth.errors import SignInThrottled
from gateway.errors import RateLimited
from gateway.ratelimit import RateLimiter


class SignInLimits:
    """Two token buckets per attempt: the client address's and the named account's (0 turns one off)."""

    def __init__(self, per_address: int, per_account: int, clock: Callable[[], float] = time.monotonic):
        self.by_address = RateLimiter(per_address, what="sign-in attempts", clock=clock)
        self.by_account = RateLimiter(per_account, what="sign-in attempts", clock=clock)

    def count_address(self, address: str) -> None:
        """One sign-up or refresh from ``address``; SignInThrottled when the address is over its limit."""
        _take(self.by_address, f"addr:{address}", "address")

    def count_sign_in(self, address: str, username: str) -> None:
        """One sign-in attempt, against the address first, then the account; raises before any password check."""
        _take(self.by_address, f"addr:{address}", "address")
        _take(self.by_account, f"account:{normalise_username(username)}", "account")


def _take(limiter: RateLimiter, key: str, limited_by: Literal["address", "account"]) -> None:
    try:
        limiter.check(key)
    except RateLimited as exc:
        raise SignInThrottled(limited_by, exc.retry_after_s, limiter.per_minute) from None
