"""make health: /ready of each detector, with its containers' state beside it when Docker answers."""

import subprocess
import sys

import pytest
import yaml

from scripts import health_check
from scripts.docker_ops import ContainerState, DockerUnavailable, connect
from scripts.local_stack import free_port
from support.repo_tree import REPO_ROOT


@pytest.fixture
def registry(tmp_path):
    port = free_port()  # nothing listens there: the detector is "down" from the host
    path = tmp_path / "detectors.yaml"
    entries = [
        {"name": "boxed", "url": f"http://127.0.0.1:{port}", "port": port, "media_types": ["image"]},
        {
            "name": "resting",
            "url": "http://127.0.0.1:9",
            "port": 9,
            "media_types": ["image"],
            "enabled": False,
        },
    ]
    path.write_text(yaml.safe_dump({"detectors": entries}))
    return path


def test_without_an_engine_the_container_column_says_so(registry):
    rows = {r["name"]: r for r in health_check.check(registry, timeout_s=0.5, states=None)}
    assert rows["boxed"]["container"] == "no Docker engine" and rows["boxed"]["ready"] == "down"
    assert rows["resting"]["note"] == "disabled in the registry"


def test_a_container_answers_for_a_detector_the_host_cannot_reach(registry):
    states = {
        "boxed": [ContainerState("tribunal-boxed-1", "running (healthy)", False, "answered 503: loading")],
    }
    rows = {r["name"]: r for r in health_check.check(registry, timeout_s=0.5, states=states)}
    assert rows["boxed"]["container"] == "tribunal-boxed-1: running (healthy)"
    assert rows["boxed"]["ready"] == "no"
    assert rows["boxed"]["note"] == "/ready inside tribunal-boxed-1: answered 503: loading"
    assert rows["resting"]["container"] == "no container"


def test_make_health_names_the_missing_engine():
    try:
        connect(timeout_s=2.0)
    except DockerUnavailable:
        pass
    else:
        pytest.skip("a Docker engine answers here; the no-engine message cannot be shown")
    result = subprocess.run(
        [sys.executable, "-m", "scripts.health_check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "no Docker engine" in result.stdout
    assert "metadata_provenance" in result.stdout  # /ready is still listed for every detector
