"""The real gateway and real detector processes over HTTP: the foundation's 'done when'."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support.media import png_bytes
from support.stack import detector_entry, running_stack

pytestmark = pytest.mark.integration

PNG = png_bytes((64, 64), (200, 180, 40))


def detect(stack, timeout=30.0, **data) -> httpx.Response:
    return httpx.post(
        stack.service("gateway").url + "/detect",
        files={"file": ("photo.png", PNG, "image/png")},
        data=data,
        timeout=timeout,
    )


def test_detect_with_two_real_detectors_then_one_killed_then_all(tmp_path):
    entries = [detector_entry("metadata_provenance"), detector_entry("latency_probe")]
    with running_stack(tmp_path, entries) as stack:
        r = detect(stack)
        assert r.status_code == 200, r.text
        body = r.json()
        statuses = {d["name"]: d["status"] for d in body["detectors"]}
        assert statuses == {"metadata_provenance": "abstained", "latency_probe": "ok"}
        assert body["degraded"] is False and body["missing"] == []
        assert body["media_type"] == "image" and len(body["sha256"]) == 64
        assert body["verdict"] in {"fake", "real", "uncertain"}
        assert r.headers["x-request-id"]

        # One detector dies: the next answer is degraded and names it, no 5xx.
        os.kill(stack.service("latency_probe").pid, signal.SIGKILL)
        stack.service("latency_probe").process.wait(5)
        r = detect(stack)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["degraded"] is True
        assert body["missing"] == ["latency_probe"]
        assert {d["name"]: d["status"] for d in body["detectors"]}["latency_probe"] == "unavailable"

        # Every image detector dies: 503 whose JSON names them.
        os.kill(stack.service("metadata_provenance").pid, signal.SIGKILL)
        stack.service("metadata_provenance").process.wait(5)
        r = detect(stack)
        assert r.status_code == 503
        text = r.text
        assert r.json()["error"]
        assert "metadata_provenance" in text and "latency_probe" in text
        assert httpx.get(stack.service("gateway").url + "/health").status_code == 200
        assert httpx.get(stack.service("gateway").url + "/ready").status_code == 503


def test_every_detector_abstains_gives_uncertain_without_score(tmp_path):
    with running_stack(tmp_path, [detector_entry("metadata_provenance")]) as stack:
        r = detect(stack)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["verdict"] == "uncertain"
        assert body["score_fake"] is None
        assert body["detectors"][0]["status"] == "abstained"
        assert body["detectors"][0]["reason"] == "no_evidence"
        assert body["degraded"] is False


def test_hung_detector_times_out_then_breaker_skips_it_until_it_recovers(tmp_path):
    timeout_s = 1.5
    entries = [detector_entry("metadata_provenance"), detector_entry("latency_probe", timeout_s=timeout_s)]
    env = {"TRIBUNAL_BREAKER_FAILURES": "2", "TRIBUNAL_BREAKER_COOLDOWN_S": "4"}
    with running_stack(tmp_path, entries, env=env) as stack:
        gateway = stack.service("gateway").url
        probe = stack.service("latency_probe")
        assert detect(stack).json()["degraded"] is False

        os.kill(probe.pid, signal.SIGSTOP)
        try:
            # While requests wait on the hung detector, the gateway's other routes keep answering.
            with ThreadPoolExecutor(4) as pool:
                pending = [pool.submit(detect, stack) for _ in range(2)]
                time.sleep(0.3)
                started = time.perf_counter()
                assert httpx.get(gateway + "/health", timeout=5).status_code == 200
                assert httpx.get(gateway + "/models", timeout=5).status_code == 200
                assert time.perf_counter() - started < 1.0 + 2 * 2.0  # /models probes time out in ~2 s
                for future in pending:
                    r = future.result()
                    assert r.status_code == 200
                    body = r.json()
                    assert body["degraded"] is True and body["missing"] == ["latency_probe"]
                    hung = next(d for d in body["detectors"] if d["name"] == "latency_probe")
                    assert hung["status"] == "timeout"
                    assert r.elapsed.total_seconds() < timeout_s + 1.0

            # Two timeouts opened the breaker: the hung detector is skipped without waiting.
            started = time.perf_counter()
            r = detect(stack)
            assert time.perf_counter() - started < 0.5
            hung = next(d for d in r.json()["detectors"] if d["name"] == "latency_probe")
            assert hung["status"] == "unavailable"
            assert "circuit" in (hung["error"] or "").lower()
        finally:
            os.kill(probe.pid, signal.SIGCONT)

        # After the cooldown a trial request goes through and the detector is back.
        time.sleep(4.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body = detect(stack).json()
            if not body["degraded"]:
                break
            time.sleep(0.5)
        assert body["degraded"] is False
        assert {d["name"]: d["status"] for d in body["detectors"]}["latency_probe"] == "ok"


def test_a_detector_without_weights_does_not_stop_the_stack(tmp_path):
    entries = [detector_entry("metadata_provenance"), detector_entry("latency_probe")]
    detector_env = {"latency_probe": {"TRIBUNAL_PROBE_MISSING_WEIGHTS": "probe.safetensors"}}
    with running_stack(tmp_path, entries, detector_env=detector_env) as stack:
        assert "probe.safetensors not found" in stack.not_ready["latency_probe"]
        probe = stack.service("latency_probe")
        assert httpx.get(probe.url + "/health").status_code == 200
        ready = httpx.get(probe.url + "/ready")
        assert ready.status_code == 503 and "probe.safetensors" in ready.json()["reason"]
        r = detect(stack)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["degraded"] is True and body["missing"] == ["latency_probe"]
        probed = next(d for d in body["detectors"] if d["name"] == "latency_probe")
        assert probed["status"] == "unavailable"
        assert "probe.safetensors" in (probed["error"] or "")
