"""The supervised local stack, with real processes on free ports.

(a) and (b) run ``python -m scripts.launcher start`` itself (the `make start` code path) on a small
registry; (c) runs the gateway and detectors without a launcher, so only the gateway's breaker and
health probe act on the stopped detector.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from scripts.local_stack import REPO_ROOT, free_port, stop_pid
from support.media import png_bytes
from support.stack import detector_entry, running_stack

pytestmark = pytest.mark.integration

PNG = png_bytes((64, 64), (200, 180, 40))


@dataclass
class Launched:
    """A launcher process started by a test, and where it keeps its files."""

    process: subprocess.Popen
    gateway: str
    run_dir: Path
    log_dir: Path
    output_path: Path

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def report(self) -> dict:
        return json.loads((self.run_dir / "supervision.json").read_text())

    def pid(self, name: str) -> int:
        return self.report()["services"][name]["pid"]

    def models(self) -> dict:
        return httpx.get(self.gateway + "/models", timeout=10).json()

    def detect(self, timeout: float = 10.0) -> httpx.Response:
        return httpx.post(
            self.gateway + "/detect", files={"file": ("a.png", PNG, "image/png")}, timeout=timeout
        )


@contextlib.contextmanager
def launched(tmp_path: Path, entries: list[dict], env: dict[str, str] | None = None) -> Iterator[Launched]:
    """Run the launcher on ``entries``; on the way out SIGTERM it, as Ctrl-C would, and wait for it."""
    registry = tmp_path / "detectors.yaml"
    registry.write_text(yaml.safe_dump({"detectors": entries}, sort_keys=False))
    port = free_port()
    run_dir, log_dir, output_path = tmp_path / "run", tmp_path / "log", tmp_path / "launcher.out"
    full_env = {
        **os.environ,
        "TRIBUNAL_AUTH_REQUIRED": "false",
        "TRIBUNAL_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [sys.executable, "-m", "scripts.launcher", "start", "--registry", str(registry)]
    command += ["--port", str(port), "--timeout", "90", "--run-dir", str(run_dir), "--log-dir", str(log_dir)]
    with output_path.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    run = Launched(process, f"http://127.0.0.1:{port}", run_dir, log_dir, output_path)
    try:
        deadline = time.monotonic() + 90
        while not (run.run_dir / "supervision.json").exists():  # written once everything is up
            assert run.process.poll() is None, f"the launcher exited:\n{run.output()}"
            assert time.monotonic() < deadline, f"the stack did not come up:\n{run.output()}"
            time.sleep(0.2)
        yield run
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.process.pid, signal.SIGTERM)
        try:
            run.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_pid(run.process.pid, timeout_s=1)  # its children die with it (PR_SET_PDEATHSIG)


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError, KeyError, OSError, json.JSONDecodeError):
            value = condition()
            if value:
                return value
        assert time.monotonic() < deadline, f"not within {timeout_s:g} s: {what}"
        time.sleep(poll_s)


def by_name(models: dict, name: str) -> dict:
    return next(d for d in models["detectors"] if d["name"] == name)


def launcher_events(run: Launched) -> list[dict]:
    lines = (run.log_dir / "launcher.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_sigkilled_detector_is_restarted_within_20_s_and_counted_in_models(tmp_path):
    with launched(tmp_path, [detector_entry("latency_probe")]) as run:
        assert run.detect().json()["detectors"][0]["status"] == "ok"
        assert by_name(run.models(), "latency_probe")["restarts"] == 0
        killed_pid = run.pid("latency_probe")

        os.kill(killed_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        # Nobody runs `make start` again: the detector answers through the gateway once more.
        def answered_ok() -> bool:
            response = run.detect(timeout=5)
            return response.status_code == 200 and response.json()["detectors"][0]["status"] == "ok"

        wait_until(answered_ok, 20, "the killed detector answers /detect again", poll_s=0.25)
        back_s = time.monotonic() - killed_at
        print(f"\nSIGKILLed latency_probe answered /detect again after {back_s:.1f} s")

        models = run.models()
        probe = by_name(models, "latency_probe")
        assert (probe["restarts"], probe["supervisor_state"], probe["ready"]) == (1, "running", True)
        assert models["gateway"] == {"restarts": 0, "supervisor_state": "running"}
        assert run.pid("latency_probe") not in (None, killed_pid)
        assert json.loads((run.run_dir / "stack.json").read_text())["services"][0]["pid"] == run.pid(
            "latency_probe"
        ), "`make stop` must find the restarted process"

        events = [e for e in launcher_events(run) if e.get("service") == "latency_probe"]
        assert [e["event"] for e in events][:2] == ["failed", "restarted"]
        assert events[0]["reason"] == "exited with code -9" and events[1]["restarts"] == 1
        assert "latency_probe exited with code -9; restarting it in 0.5 s" in run.output()

        # The gateway is supervised too, and the new one reads the same report.
        os.kill(run.pid("gateway"), signal.SIGKILL)
        wait_until(lambda: run.models()["gateway"]["restarts"] == 1, 20, "the gateway is back")
        assert by_name(run.models(), "latency_probe")["restarts"] == 1
    assert run.process.returncode == 0


def test_a_detector_that_keeps_dying_is_given_up_on_loudly(tmp_path):
    entry = detector_entry("latency_probe")
    # A first back-off of 1 s leaves the test time to take the port before the first restart.
    env = {"TRIBUNAL_SUPERVISOR_MAX_RAPID_FAILURES": "3", "TRIBUNAL_SUPERVISOR_BACKOFF_FIRST_S": "1"}
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        with launched(tmp_path, [entry], env=env) as run:
            # Kill it and take its port: every restart now dies at once ("address already in use").
            os.kill(run.pid("latency_probe"), signal.SIGKILL)
            wait_until(
                lambda: squatter.bind(("127.0.0.1", entry["port"])) or True,
                5,
                "the port is free",
                poll_s=0.02,
            )
            squatter.listen()

            wait_until(
                lambda: run.report()["services"]["latency_probe"]["state"] == "gave_up",
                40,
                "the launcher gives up on latency_probe",
            )
            output = run.output()
            assert (
                "error: giving up on latency_probe: 3 failures within 60 s (last: exited with code" in output
            )
            assert "run `make start` again" in output
            assert output.count("restarted latency_probe") == 2
            gave_up = [e for e in launcher_events(run) if e["event"] == "gave_up"]
            assert len(gave_up) == 1 and gave_up[0]["level"] == "ERROR"
            assert gave_up[0]["service"] == "latency_probe" and gave_up[0]["failures"] == 3

            probe = by_name(run.models(), "latency_probe")
            assert (probe["supervisor_state"], probe["restarts"]) == ("gave_up", 2)
            # The rest of the stack keeps serving, and nothing restarts it any more.
            time.sleep(1.5)
            assert output.count("restarted latency_probe") == run.output().count("restarted latency_probe")
            assert httpx.get(run.gateway + "/health", timeout=5).status_code == 200
    finally:
        squatter.close()
    assert run.process.returncode == 1  # the non-zero state outlives the log line
    assert "gave up on latency_probe" in run.output()


def test_a_stopped_detector_costs_one_timeout_and_a_health_probe_finds_it_back(tmp_path):
    timeout_s = 1.0
    entries = [detector_entry("metadata_provenance"), detector_entry("latency_probe", timeout_s=timeout_s)]
    # The breaker cooldown caps the wait between health probes.
    with running_stack(tmp_path, entries, env={"TRIBUNAL_BREAKER_COOLDOWN_S": "2"}) as stack:
        gateway = stack.service("gateway").url

        def detect() -> tuple[float, dict]:
            started = time.perf_counter()
            response = httpx.post(
                gateway + "/detect", files={"file": ("a.png", PNG, "image/png")}, timeout=30
            )
            assert response.status_code == 200, response.text
            body = response.json()
            return time.perf_counter() - started, body

        def probe_result(body: dict) -> dict:
            return next(d for d in body["detectors"] if d["name"] == "latency_probe")

        def breaker() -> str:
            models = httpx.get(gateway + "/models", timeout=10).json()
            return by_name(models, "latency_probe")["breaker"]

        assert detect()[1]["degraded"] is False
        pid = stack.service("latency_probe").pid
        os.killpg(pid, signal.SIGSTOP)
        try:
            elapsed, body = detect()
            assert probe_result(body)["status"] == "timeout"
            assert timeout_s * 0.9 < elapsed < timeout_s + 1.0

            # The first timeout opened the breaker: nobody else waits for the stopped detector.
            for _ in range(5):
                elapsed, body = detect()
                assert elapsed < timeout_s / 2, f"a request waited {elapsed:.2f} s on a stopped detector"
                assert body["degraded"] is True and body["missing"] == ["latency_probe"]
                assert probe_result(body)["status"] == "unavailable"
                assert "circuit breaker open" in probe_result(body)["error"]
            assert breaker() == "open"
        finally:
            os.killpg(pid, signal.SIGCONT)

        # No /detect until the breaker closes: only the gateway's background health probe can close it.
        wait_until(lambda: breaker() == "closed", 10, "the health probe closes the breaker")
        elapsed, body = detect()
        assert body["degraded"] is False and probe_result(body)["status"] == "ok"
