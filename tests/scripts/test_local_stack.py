"""The local launcher's plan: which processes it starts and with what environment."""

from __future__ import annotations

import os

from scripts.local_stack import LocalStack
from support.stack import detector_entry


def _stack(tmp_path, **kw) -> LocalStack:
    stack = LocalStack(registry_path=tmp_path / "detectors.yaml", gateway_port=8999, log_dir=tmp_path, **kw)
    stack.write_registry([detector_entry("metadata_provenance"), detector_entry("latency_probe")])
    return stack


def test_the_cores_are_split_among_the_detectors(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIBUNAL_CPU_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    services = {s.name: s for s in _stack(tmp_path).plan()}
    assert services["metadata_provenance"].env["TRIBUNAL_CPU_THREADS"] == "4"
    assert services["latency_probe"].env["TRIBUNAL_CPU_THREADS"] == "4"
    assert "TRIBUNAL_CPU_THREADS" not in services["gateway"].env


def test_never_fewer_than_one_thread_and_an_explicit_setting_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIBUNAL_CPU_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert {s.env.get("TRIBUNAL_CPU_THREADS") for s in _stack(tmp_path).plan()} == {"1", None}
    monkeypatch.setenv("TRIBUNAL_CPU_THREADS", "3")
    assert all(s.env["TRIBUNAL_CPU_THREADS"] == "3" for s in _stack(tmp_path).plan())
    per_detector = _stack(tmp_path, detector_env={"latency_probe": {"TRIBUNAL_CPU_THREADS": "2"}})
    assert {s.name: s.env["TRIBUNAL_CPU_THREADS"] for s in per_detector.plan()}["latency_probe"] == "2"
