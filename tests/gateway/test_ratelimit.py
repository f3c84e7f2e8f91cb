"""The token-bucket limiter on its own, with a controlled clock."""

from __future__ import annotations

import pytest

from gateway.errors import RateLimited
from gateway.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_allows_a_burst_then_refills_at_the_steady_rate():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, clock=clock)  # one every 10 s
    for _ in range(6):
        limiter.check("u")
    with pytest.raises(RateLimited) as refused:
        limiter.check("u")
    assert refused.value.headers["Retry-After"] == "10"
    assert refused.value.status_code == 429
    clock.now += 4
    with pytest.raises(RateLimited) as again:
        limiter.check("u")
    assert again.value.extra["retry_after_s"] == 6
    clock.now += 6
    limiter.check("u")  # one request's worth came back
    limiter.check("other")  # buckets are per key


def test_zero_turns_the_limit_off():
    limiter = RateLimiter(per_minute=0)
    for _ in range(1000):
        limiter.check("u")
