"""The circuit breaker state machine: N soft failures or one hard failure open it; only a success closes it."""

from __future__ import annotations

import pytest

from tribunal_sdk.client.breaker import CircuitBreaker


@pytest.fixture
def breaker() -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_it_stays_closed_below_the_threshold_and_success_resets_the_count(breaker):
    fail(breaker, 2)
    assert breaker.state == "closed" and breaker.consecutive_failures == 2
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.allow()


def test_it_opens_after_n_consecutive_failures_and_refuses_every_call(breaker):
    fail(breaker, 2)
    assert breaker.record_failure() is True  # this one opened it
    assert breaker.state == "open"
    assert not breaker.allow() and not breaker.allow()
    assert breaker.record_failure() is False  # already open


def test_one_hard_failure_opens_it_whatever_the_threshold(breaker):
    assert breaker.record_failure(hard=True) is True
    assert breaker.state == "open" and breaker.consecutive_failures == 1
    assert not breaker.allow()


def test_it_stays_open_until_a_success_closes_it(breaker):
    breaker.record_failure(hard=True)
    assert not breaker.allow()  # no cooldown lets a user request through as a trial
    breaker.record_success()  # e.g. the health probe found the detector ready
    assert breaker.state == "closed" and breaker.consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_a_threshold_of_one_opens_on_the_first_failure():
    breaker = CircuitBreaker(failure_threshold=1)
    fail(breaker, 1)
    assert breaker.state == "open"


def test_a_nonsense_threshold_is_refused():
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
