"""Run the gateway and every enabled detector as separate processes on this machine (no Docker).

Used by ``make start`` / ``make stop`` (scripts/launcher.py) and by the integration tests, which
start real stacks on free ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.registry import DetectorEntry, load_registry
from tribunal_home import REPO_ROOT
from tribunal_sdk.errors import TribunalError


class StackError(TribunalError, RuntimeError):
    """A process of the stack could not be started or did not become ready."""

    status_code = 503
    code = "stack_not_ready"


@dataclass
class Service:
    """One process of the stack."""

    name: str
    command: list[str]
    url: str
    port: int
    env: dict[str, str]
    log_path: Path
    ready_path: str = "/ready"
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # Own process group, so stopping the stack also stops anything a service spawned.
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exited(self) -> int | None:
        return self.process.poll() if self.process else None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when the launcher dies, even by SIGKILL,
    so a killed `make start` or test run never leaves detectors holding their ports."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: `make stop` and the run file still stop the stack


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (tests and benchmarks start services on these)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def stop_pid(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``timeout_s``."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            # Reap it if it is our child, so it does not linger as a zombie.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)


@dataclass
class LocalStack:
    """The processes described by one registry file plus the gateway."""

    registry_path: Path = REPO_ROOT / "config" / "detectors.yaml"
    gateway_port: int = 8000
    host: str = "127.0.0.1"
    log_dir: Path = REPO_ROOT / "var" / "log"
    extra_env: dict[str, str] = field(default_factory=dict)
    detector_env: dict[str, dict[str, str]] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    # Detectors that started but reported a failed load, with the reason.
    not_ready: dict[str, str] = field(default_factory=dict)

    def enabled_detectors(self) -> list[DetectorEntry]:
        return [d for d in load_registry(self.registry_path).detectors if d.enabled]

    def _env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(overrides)
        return env

    def _cpu_share(self, n_detectors: int) -> dict[str, str]:
        """Split the cores among the detectors of this machine (TRIBUNAL_CPU_THREADS), unless set already.

        Each torch or OpenMP model otherwise takes every core, and two of them on two cores ran five
        times slower than with one thread each (measured during `make retrain`).
        """
        if "TRIBUNAL_CPU_THREADS" in os.environ or "TRIBUNAL_CPU_THREADS" in self.extra_env:
            return {}
        return {"TRIBUNAL_CPU_THREADS": str(max(1, (os.cpu_count() or 1) // max(1, n_detectors)))}

    def plan(self) -> list[Service]:
        """The services to start: every enabled detector, then the gateway."""
        services = []
        detectors = self.enabled_detectors()
        for entry in detectors:
            env = self._env(**self._cpu_share(len(detectors)), **self.detector_env.get(entry.name, {}))
            services.append(
                Service(
                    name=entry.name,
                    command=[
                        sys.executable,
                        "-m",
                        f"detectors.{entry.package}",
                        "--host",
                        self.host,
                        "--port",
                        str(entry.port),
                    ],
                    url=str(entry.url).rstrip("/"),
                    port=entry.port,
                    env=env,
                    log_path=self.log_dir / f"{entry.name}.log",
                )
            )
        gateway_env = self._env(
            TRIBUNAL_HOST=self.host,
            TRIBUNAL_PORT=str(self.gateway_port),
            TRIBUNAL_REGISTRY_PATH=str(self.registry_path),
        )
        services.append(
            Service(
                name="gateway",
                command=[sys.executable, "-m", "gateway"],
                url=f"http://{self.host}:{self.gateway_port}",
                port=self.gateway_port,
                env=gateway_env,
                log_path=self.log_dir / "gateway.log",
                ready_path="/health",
            )
        )
        return services

    def write_registry(self, entries: list[dict]) -> Path:
        """Write ``entries`` as this stack's registry file (tests and benchmarks use temporary ones)."""
        import yaml

        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        self.registry_path.write_text(yaml.safe_dump({"detectors": entries}, sort_keys=False))
        return self.registry_path

    def start(self, timeout_s: float = 300.0, on_progress: Callable[[str], None] | None = None) -> None:
        """Start every service and wait until each answers its ready path or reports that it cannot load
        (listed in ``not_ready``); StackError when a process dies, a port is taken, or time runs out."""
        planned = self.plan()
        taken = [f"{s.name} ({s.port})" for s in planned if not port_is_free(s.port, self.host)]
        if taken:
            raise StackError(
                "ports already in use: " + ", ".join(taken) + ". Is a stack already running? Try `make stop`."
            )
        self.services = planned
        for service in self.services:
            service.start()
        try:
            self.wait_ready(timeout_s, on_progress)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout_s: float, on_progress: Callable[[str], None] | None = None) -> None:
        pending = {s.name: s for s in self.services}
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, service in list(pending.items()):
                    code = service.exited()
                    if code is not None:
                        raise StackError(
                            f"{name} exited with code {code} while starting; last log lines "
                            f"({service.log_path}):\n{service.log_tail()}"
                        )
                    try:
                        response = client.get(service.url + service.ready_path)
                    except httpx.HTTPError:
                        continue
                    if response.status_code == 200:
                        del pending[name]
                        if on_progress:
                            on_progress(f"{name} ready at {service.url}")
                    elif response.status_code == 503 and response.json().get("status") == "failed":
                        # Alive but unable to load (e.g. weights not trained yet): the rest of the stack
                        # serves without it, and the gateway names it in every degraded answer.
                        del pending[name]
                        self.not_ready[name] = str(response.json().get("reason"))
                        if on_progress:
                            on_progress(f"{name} is up but NOT ready: {self.not_ready[name]}")
                if pending and time.monotonic() > deadline:
                    raise StackError(f"not ready after {timeout_s:.0f} s: {', '.join(sorted(pending))}")
                if pending:
                    time.sleep(0.2)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def stop(self) -> None:
        # Gateway first, so nothing new is sent to detectors that are going away.
        for service in reversed(self.services):
            if service.pid is not None and service.exited() is None:
                stop_pid(service.pid)
            if service.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.process.wait(timeout=5)

    def write_run_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [{"name": s.name, "pid": s.pid, "url": s.url} for s in self.services]
        path.write_text(json.dumps({"started": time.time(), "services": records}, indent=2))


def stop_from_run_file(path: Path) -> list[str]:
    """Stop a stack another process started (``make stop``); returns the names stopped."""
    if not path.is_file():
        return []
    records = json.loads(path.read_text())["services"]
    # Remove the file first: a foreground launcher watching it then knows the stop was asked for.
    path.unlink(missing_ok=True)
    stopped = []
    for record in reversed(records):
        if record.get("pid"):
            stop_pid(int(record["pid"]))
            stopped.append(record["name"])
    return stopped
