"""Container operations against a real Docker engine: they run where one answers, skip where none does.

Building a detector image installs PyTorch (CPU build) from the package index: minutes, and a few GB.
"""

import subprocess

import httpx
import pytest

from gateway.registry import REPO_ROOT, load_registry
from scripts import docker_ops, health_check

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]

DETECTOR = "metadata_provenance"  # needs no weights, so it becomes ready in any checkout


@pytest.fixture(scope="module")
def client():
    try:
        return docker_ops.connect()
    except docker_ops.DockerUnavailable as exc:
        pytest.skip(f"needs a Docker engine to build and run images, and none answers here ({exc})")


@pytest.fixture(scope="module")
def running(client):
    entry = load_registry(REPO_ROOT / "config" / "detectors.yaml").get(DETECTOR)
    tag = docker_ops.build_image(client, entry, gpu=False)
    container = docker_ops.run_detector(client, entry, tag, gpu=False)
    try:
        yield entry, container
    finally:
        container.remove(force=True)


def test_run_detector_serves_the_detector_contract(running):
    entry, container = running
    ready, detail = docker_ops.wait_ready(container, f"http://127.0.0.1:{entry.port}", timeout_s=300)
    assert ready, detail
    info = httpx.get(f"http://127.0.0.1:{entry.port}/info", timeout=5).json()
    assert info["name"] == DETECTOR
    user = container.exec_run(["id", "-u"]).output.decode().strip()
    assert user == "10001"  # not root


def test_health_lists_the_container_beside_ready(running, client):
    entry, container = running
    docker_ops.wait_ready(container, f"http://127.0.0.1:{entry.port}", timeout_s=300)
    states = docker_ops.container_states(client)
    assert any(s.container == container.name and s.ready for s in states[DETECTOR])
    rows = {r["name"]: r for r in health_check.check(REPO_ROOT / "config/detectors.yaml", states=states)}
    assert container.name in rows[DETECTOR]["container"] and rows[DETECTOR]["ready"] == "yes"


def test_compose_accepts_the_generated_file(client):
    result = subprocess.run(
        ["docker", "compose", "config", "--quiet"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0 and "is not a docker command" in result.stderr:
        pytest.skip("the docker compose plugin is not installed")
    assert result.returncode == 0, result.stderr
