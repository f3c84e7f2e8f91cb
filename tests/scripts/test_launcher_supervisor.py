"""The supervisor's policy: back-off, the rapid-failure window, settings. Real (tiny) processes, a fake clock."""

from __future__ import annotations

import os
import sys

import pytest
from pydantic import ValidationError

from gateway.registry import SupervisionReport, read_supervision_report
from scripts.launcher_supervisor import SupervisionPolicy, Supervisor
from scripts.local_stack import Service


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_back_off_doubles_up_to_its_cap():
    policy = SupervisionPolicy(backoff_first_s=0.5, backoff_max_s=3.0)
    assert [policy.backoff_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_policy_reads_tribunal_supervisor_variables(monkeypatch):
    monkeypatch.setenv("TRIBUNAL_SUPERVISOR_MAX_RAPID_FAILURES", "2")
    assert SupervisionPolicy().max_rapid_failures == 2
    monkeypatch.setenv("TRIBUNAL_SUPERVISOR_MAX_RAPID_FAILURES", "0")
    with pytest.raises(ValidationError, match="max_rapid_failures"):
        SupervisionPolicy()


def test_only_failures_inside_the_window_count_towards_giving_up(tmp_path):
    service = Service(
        name="crasher",
        command=[sys.executable, "-c", "raise SystemExit(3)"],
        url="http://127.0.0.1:9",
        port=9,
        env=dict(os.environ),
        log_path=tmp_path / "crasher.log",
    )
    service.start()
    clock = FakeClock()
    policy = SupervisionPolicy(max_rapid_failures=3, rapid_window_s=10.0, backoff_first_s=1.0)
    report_path = tmp_path / "supervision.json"
    supervisor = Supervisor([service], policy, report_path, clock=clock)

    def crash_and_notice() -> SupervisionReport:
        assert service.process is not None
        service.process.wait(timeout=30)
        supervisor.tick()
        report = read_supervision_report(report_path)
        assert report is not None
        return report

    def restart_after(seconds: float) -> None:
        clock.now += seconds
        supervisor.tick()

    try:
        crashed = crash_and_notice().services["crasher"]
        assert (crashed.state, crashed.last_failure, crashed.restarts) == (
            "backing_off",
            "exited with code 3",
            0,
        )
        supervisor.tick()
        assert crash_and_notice().services["crasher"].restarts == 0  # not before its back-off
        restart_after(1.0)
        assert crash_and_notice().services["crasher"].state == "backing_off"  # failure 2 of 3, 2 s back-off
        restart_after(20.0)  # the first two failures are now outside the 10 s window
        assert crash_and_notice().services["crasher"].state == "backing_off"
        restart_after(1.0)  # failure 2 of this window
        assert crash_and_notice().services["crasher"].state == "backing_off"
        restart_after(2.0)
        final = crash_and_notice().services["crasher"]
        assert (final.state, final.restarts) == ("gave_up", 4)
        assert supervisor.gave_up == ["crasher"]
        restart_after(60.0)
        assert service.exited() == 3  # given up: never started again
    finally:
        supervisor.close()
