"""Keep a local stack up: restart a process that exits or stops answering ``GET /health``, with back-off.

``make start`` (scripts/launcher.py) runs one ``Supervisor`` over the services of its LocalStack and
calls ``tick()`` twice a second. Per service:

    running ──(exits, or N health checks in a row fail)──▶ backing_off ──(delay elapsed)──▶ running
       │                                                       ▲
       └──(max_rapid_failures within rapid_window_s)──▶ gave_up (never restarted; logged as an error)

The delay doubles with each failure inside the window (backoff_first_s, 2x, 4x ... up to backoff_max_s).
A hung process (SIGSTOPped, deadlocked) is SIGKILLed before it is started again. Health checks run on
a thread pool, so one hung process never delays noticing that another one died.

Every change is logged (JSON lines with ``event``, ``service``, ``restarts``... in <log_dir>/launcher.log,
plain text on stdout) and written to the supervision report (schema in gateway/registry.py), which the
gateway reads to show ``restarts`` in ``GET /models``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.registry import SupervisedService, SupervisionReport
from scripts.local_stack import Service

log = logging.getLogger("launcher.supervisor")

# While a restarted process comes up, check often: the health check is what says it is back.
_STARTING_CHECK_S = 0.5


class SupervisionPolicy(BaseSettings):
    """How the launcher supervises; each field can be set as ``TRIBUNAL_SUPERVISOR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TRIBUNAL_SUPERVISOR_", extra="forbid")

    backoff_first_s: float = Field(0.5, gt=0, description="wait before the first restart")
    backoff_max_s: float = Field(30.0, gt=0, description="longest wait before a restart")
    max_rapid_failures: int = Field(5, ge=1, description="give up after this many failures within the window")
    rapid_window_s: float = Field(60.0, gt=0)
    health_interval_s: float = Field(2.0, gt=0, description="pause between health checks of one process")
    health_timeout_s: float = Field(5.0, gt=0)
    unhealthy_after: int = Field(3, ge=1, description="failed health checks in a row that mean 'hung'")
    start_timeout_s: float = Field(120.0, gt=0, description="a restarted process must answer /health by then")

    def backoff_s(self, recent_failures: int) -> float:
        """The wait before restarting after the ``recent_failures``-th failure inside the window."""
        return min(self.backoff_first_s * 2 ** max(0, recent_failures - 1), self.backoff_max_s)


@dataclass
class _Watch:
    """One supervised process and what the supervisor remembers about it."""

    service: Service
    record: SupervisedService
    started_at: float
    failures: deque[float] = field(default_factory=deque)
    answered_since_start: bool = True  # the launcher's start-up already waited for it
    failed_at: float | None = None
    unhealthy_checks: int = 0
    next_check_at: float = 0.0
    pending_check: Future[bool] | None = None
    restart_at: float | None = None


class Supervisor:
    """Restarts the services of a started LocalStack; see the module docstring."""

    def __init__(
        self,
        services: Sequence[Service],
        policy: SupervisionPolicy,
        report_path: Path,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        on_restart: Callable[[Service], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.policy = policy
        self.report_path = report_path
        self._should_stop = should_stop
        self._on_restart = on_restart
        self._clock = clock
        now = clock()
        self._watches = [_Watch(s, SupervisedService(pid=s.pid), started_at=now) for s in services]
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(services)), thread_name_prefix="health")
        self._http = httpx.Client(timeout=policy.health_timeout_s, trust_env=False)
        self._write_report()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    @property
    def gave_up(self) -> list[str]:
        """Names of the services given up on."""
        return [w.service.name for w in self._watches if w.record.state == "gave_up"]

    def tick(self) -> None:
        """One pass over every service: notice exits and hangs, restart what is due. Never blocks long."""
        for watch in self._watches:
            if self._should_stop():
                return
            if watch.record.state == "gave_up":
                continue
            if watch.record.state == "backing_off":
                if watch.restart_at is not None and self._clock() >= watch.restart_at:
                    self._restart(watch)
                continue
            code = watch.service.exited()
            if code is not None:
                self._failed(watch, f"exited with code {code}")
                continue
            self._check_health(watch)

    # Health ---------------------------------------------------------------------------------------

    def _check_health(self, watch: _Watch) -> None:
        now = self._clock()
        if watch.pending_check is not None:
            if not watch.pending_check.done():
                return
            healthy = watch.pending_check.result()
            watch.pending_check = None
            self._health_result(watch, healthy, now)
            pause = self.policy.health_interval_s if watch.answered_since_start else _STARTING_CHECK_S
            watch.next_check_at = now + pause
            return
        if watch.record.state != "running":
            return
        if not watch.answered_since_start and now - watch.started_at > self.policy.start_timeout_s:
            self._kill(watch.service)
            self._failed(
                watch, f"did not answer /health within {self.policy.start_timeout_s:g} s of starting"
            )
            return
        if now >= watch.next_check_at:
            watch.pending_check = self._pool.submit(self._answers_health, watch.service.url)

    def _health_result(self, watch: _Watch, healthy: bool, now: float) -> None:
        if healthy:
            watch.unhealthy_checks = 0
            if not watch.answered_since_start:
                watch.answered_since_start = True
                down_s = round(now - (watch.failed_at or watch.started_at), 2)
                self._event(
                    logging.INFO,
                    f"{watch.service.name} is back: answering /health {down_s:g} s after it failed",
                    "recovered",
                    watch,
                    down_s=down_s,
                )
            return
        if not watch.answered_since_start:
            return  # still starting; start_timeout_s bounds this
        watch.unhealthy_checks += 1
        if watch.unhealthy_checks >= self.policy.unhealthy_after:
            self._kill(watch.service)
            self._failed(
                watch,
                f"stopped answering /health ({watch.unhealthy_checks} checks in a row, "
                f"{self.policy.health_timeout_s:g} s timeout)",
            )

    def _answers_health(self, url: str) -> bool:
        try:
            return self._http.get(url + "/health").status_code == 200
        except httpx.HTTPError:
            return False

    # Failures and restarts --------------------------------------------------------------------------

    def _failed(self, watch: _Watch, reason: str) -> None:
        now = self._clock()
        watch.pending_check = None
        watch.failed_at = now
        watch.failures.append(now)
        while watch.failures and now - watch.failures[0] > self.policy.rapid_window_s:
            watch.failures.popleft()
        watch.record.last_failure = reason
        watch.record.last_failure_at = datetime.now(UTC)
        watch.record.pid = None
        recent = len(watch.failures)
        name = watch.service.name
        if recent >= self.policy.max_rapid_failures:
            watch.record.state = "gave_up"
            self._event(
                logging.ERROR,
                f"giving up on {name}: {recent} failures within {self.policy.rapid_window_s:g} s "
                f"(last: {reason}); it stays down until you fix it and run `make start` again. "
                f"Its log: {watch.service.log_path}",
                "gave_up",
                watch,
                reason=reason,
                failures=recent,
            )
            return
        delay = self.policy.backoff_s(recent)
        watch.record.state = "backing_off"
        watch.restart_at = now + delay
        self._event(
            logging.WARNING,
            f"{name} {reason}; restarting it in {delay:g} s "
            f"(failure {recent} of {self.policy.max_rapid_failures} allowed within "
            f"{self.policy.rapid_window_s:g} s; log: {watch.service.log_path})",
            "failed",
            watch,
            reason=reason,
            backoff_s=delay,
            failures=recent,
        )

    def _restart(self, watch: _Watch) -> None:
        service = watch.service
        try:
            service.start()
        except OSError as exc:
            self._failed(watch, f"could not be started: {exc}")
            return
        watch.record.restarts += 1
        watch.record.state = "running"
        watch.record.pid = service.pid
        watch.started_at = self._clock()
        watch.answered_since_start = False
        watch.unhealthy_checks = 0
        watch.next_check_at = 0.0
        watch.restart_at = None
        if self._on_restart is not None:
            self._on_restart(service)
        self._event(
            logging.INFO,
            f"restarted {service.name} (restart {watch.record.restarts}, pid {service.pid})",
            "restarted",
            watch,
        )

    @staticmethod
    def _kill(service: Service) -> None:
        """SIGKILL a hung service's process group: SIGTERM would wait for a stopped process forever."""
        if service.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.pid, signal.SIGKILL)
        if service.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=5)

    # Reporting --------------------------------------------------------------------------------------

    def _event(self, level: int, message: str, event: str, watch: _Watch, **fields: object) -> None:
        record = watch.record
        log.log(
            level,
            message,
            extra={
                "fields": {
                    "event": event,
                    "service": watch.service.name,
                    "restarts": record.restarts,
                    "state": record.state,
                    "pid": record.pid,
                    **fields,
                }
            },
        )
        self._write_report()

    def _write_report(self) -> None:
        report = SupervisionReport(
            launcher_pid=os.getpid(),
            updated_at=datetime.now(UTC),
            services={w.service.name: w.record for w in self._watches},
        )
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.report_path.with_name(self.report_path.name + ".tmp")
        partial.write_text(report.model_dump_json(indent=2))
        os.replace(partial, self.report_path)  # readers see the old report or the new one, never half
