"""The circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from gateway.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, cooldown_s=10.0, clock=clock)


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


def test_it_opens_after_n_consecutive_failures_and_refuses_calls(breaker, clock):
    fail(breaker, 3)
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.advance(4.0)
    assert breaker.retry_in_s() == pytest.approx(6.0)
    assert not breaker.allow()


def test_after_the_cooldown_exactly_one_trial_goes_through(breaker, clock):
    fail(breaker, 3)
    clock.advance(10.0)
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # the trial is in flight; everyone else is refused
    assert breaker.state == "half_open"


def test_a_successful_trial_closes_it(breaker, clock):
    fail(breaker, 3)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_a_failed_trial_opens_it_for_another_cooldown(breaker, clock):
    fail(breaker, 3)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_an_abandoned_trial_frees_the_slot(breaker, clock):
    fail(breaker, 3)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.abandon()
    assert breaker.allow()


def test_a_threshold_of_one_opens_on_the_first_failure(clock):
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=1.0, clock=clock)
    fail(breaker, 1)
    assert breaker.state == "open"


@pytest.mark.parametrize(("failures", "cooldown"), [(0, 1.0), (1, 0.0)])
def test_nonsense_settings_are_refused(failures, cooldown):
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=failures, cooldown_s=cooldown)
