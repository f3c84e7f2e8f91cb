"""Issue 8, "done when": make add-model in a copy of the repository, a trivial model written into the
generated detector.py, the copy's own launcher and gateway serving it, then make remove-model
leaving the tree exactly as before.

Everything runs from the copy: make's working directory is the copy, and PYTHONPATH puts the copy's
packages (and its SDK) ahead of the installed ones, so the copy's launcher, gateway, detectors and
scripts are what run. make uses this test's interpreter (PY=...) and skips the install step (-o
install) so nothing is installed and the copy's pyproject.toml never touches the real venv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.registry import load_registry
from scripts.local_stack import free_port
from support.media import png_bytes
from support.repo_tree import copy_repo, snapshot, tree_diff

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "demo_detector"
COLOR = (200, 180, 40)  # luma 170.0 -> mean brightness 170 / 255
TRIVIAL_MODEL = """    def load(self) -> None:
        self.model = "mean brightness (a test stand-in, not a detector)"

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        from PIL import ImageStat

        return [
            Prediction(prob_fake=ImageStat.Stat(item.image.convert("L")).mean[0] / 255.0)
            for item in inputs
        ]
"""


def make(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", f"PY={sys.executable}", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"make {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def implement_trivial_model(detector_py: Path) -> None:
    """Replace the skeleton's load() and predict_batch() (the class's last two methods)."""
    source = detector_py.read_text()
    start = source.index("    def load(self) -> None:")
    assert "def predict_batch(self, inputs: list[ImageInput])" in source[start:]
    detector_py.write_text(source[:start] + TRIVIAL_MODEL)


def wait_for(url: str, launcher: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            raise AssertionError(f"the launcher exited:\n{launcher.stdout.read() if launcher.stdout else ''}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s")


def test_add_model_serve_it_then_remove_model(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    before = snapshot(repo)
    # Not the variables of an outer `make test`: they would pass its flags on to these makes.
    inherited = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env = {
        **inherited,
        "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "sdk")]),
        "TRIBUNAL_AUTH_REQUIRED": "false",
    }
    port = free_port()

    added = make(repo, env, "add-model", f"NAME={NAME}", "MEDIA_TYPE=image", f"PORT={port}")
    assert f"make remove-model NAME={NAME}" in added.stdout  # the next steps are printed
    registry = load_registry(repo / "config" / "detectors.yaml")
    entry = registry.get(NAME)
    assert entry is not None and entry.port == port and entry.enabled
    compose = yaml.safe_load((repo / "docker-compose.yml").read_text())
    assert "demo-detector" in compose["services"]
    assert (repo / "deploy/k8s/base/detectors/demo-detector.yaml").is_file()
    implement_trivial_model(repo / "detectors" / NAME / "detector.py")

    # The stack: the new detector as registered, beside metadata_provenance (a real detector that needs
    # no weights). The other registered detectors are left out to keep this test fast and independent
    # of their weights; the launcher and gateway read this file exactly as they read the real one.
    provenance = registry.get("metadata_provenance").model_dump()
    provenance_port = free_port()
    provenance.update(port=provenance_port, url=f"http://127.0.0.1:{provenance_port}")
    stack_registry = tmp_path / "stack-registry.yaml"
    stack_registry.write_text(yaml.safe_dump({"detectors": [provenance, entry.model_dump()]}))
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    launcher = subprocess.Popen(
        [
            *[sys.executable, "-m", "scripts.launcher", "start"],
            *["--registry", str(stack_registry), "--port", str(gateway_port), "--timeout", "90"],
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(f"{gateway}/health", launcher)
        wait_for(f"http://127.0.0.1:{port}/ready", launcher)
        # Both detectors, not only the new one: a request sent while metadata_provenance still loads
        # finds it unavailable (it failed once that way in CI).
        wait_for(f"http://127.0.0.1:{provenance_port}/ready", launcher)

        models = httpx.get(f"{gateway}/models", timeout=10).json()
        listed = {d["name"]: d for d in models["detectors"]}
        assert listed[NAME]["ready"] is True, listed[NAME]
        assert listed[NAME]["url"] == f"http://127.0.0.1:{port}"

        response = httpx.post(
            f"{gateway}/detect",
            files={"file": ("photo.png", png_bytes((64, 64), COLOR), "image/png")},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        results = {d["name"]: d for d in response.json()["detectors"]}
        assert results[NAME]["status"] == "ok", results[NAME]
        assert results[NAME]["prob_fake"] == pytest.approx(170.0 / 255.0, abs=0.01)
        assert results["metadata_provenance"]["status"] == "abstained"
    finally:
        os.killpg(launcher.pid, signal.SIGTERM)  # the launcher stops its services on SIGTERM
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(timeout=5)

    make(repo, env, "remove-model", f"NAME={NAME}")
    assert tree_diff(before, snapshot(repo)) == []
