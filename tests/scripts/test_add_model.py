"""make add-model / make remove-model on a throw-away copy of the repository."""

import os
import subprocess
import sys

import pytest
import yaml

from gateway.registry import load_registry
from scripts import deploy_files
from scripts.add_model import AddModelError, add_model, class_name
from scripts.remove_model import RemoveModelError, remove_model
from support.repo_tree import copy_repo, snapshot, tree_diff

RUFF = [sys.executable, "-m", "ruff"]


@pytest.fixture
def repo(tmp_path):
    return copy_repo(tmp_path / "repo")


def free_registry_port(repo) -> int:
    return max(e.port for e in load_registry(repo / "config" / "detectors.yaml").detectors) + 11


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad", "invalid NAME"),
        ("1st", "invalid NAME"),
        ("ends_", "invalid NAME"),
        ("double__underscore", "invalid NAME"),
        ("has-hyphen", "invalid NAME"),
        ("a" * 31, "invalid NAME"),
        ("class", "reserved"),
        ("gateway", "reserved"),
        ("common", "reserved"),
        ("metadata_provenance", "taken: config/detectors.yaml"),
    ],
)
def test_invalid_or_taken_names_are_refused_and_nothing_changes(repo, name, message):
    before = snapshot(repo)
    with pytest.raises(AddModelError, match=message):
        add_model(repo, name, "image", free_registry_port(repo))
    assert tree_diff(before, snapshot(repo)) == []


def test_a_folder_that_exists_makes_the_name_taken(repo):
    (repo / "tests" / "detectors" / "orphan").mkdir(parents=True)
    with pytest.raises(AddModelError, match=r"taken: tests/detectors/orphan/ already exists"):
        add_model(repo, "orphan", "image", free_registry_port(repo))


@pytest.mark.parametrize(
    ("port", "media_type", "message"),
    [
        (80, "image", "between 1024 and 65535"),
        (70000, "image", "between 1024 and 65535"),
        (8101, "image", "taken by metadata_provenance"),
        (8000, "image", "the gateway's port"),
        (None, "audio", "MEDIA_TYPE must be image or video"),
    ],
)
def test_invalid_or_taken_ports_and_media_types_are_refused(repo, port, media_type, message):
    before = snapshot(repo)
    with pytest.raises(AddModelError, match=message):
        add_model(repo, "new_detector", media_type, port or free_registry_port(repo))
    assert tree_diff(before, snapshot(repo)) == []


def test_add_creates_a_wired_detector_and_remove_restores_the_tree(repo):
    before = snapshot(repo)
    port = free_registry_port(repo)
    add_model(repo, "new_detector", "image", port, gpu=True)

    changes = tree_diff(before, snapshot(repo))
    for expected in [
        "added detectors/new_detector/__init__.py",
        "added detectors/new_detector/__main__.py",
        "added detectors/new_detector/detector.py",
        "added detectors/new_detector/detector.yaml",
        "added detectors/new_detector/Dockerfile",
        "added detectors/new_detector/weights/MODEL_CARD.md",
        "added tests/detectors/new_detector/test_new_detector.py",
        "added deploy/k8s/base/detectors/new-detector.yaml",
        "added deploy/k8s/overlays/gpu/patches/new-detector-gpu.yaml",
        "changed config/detectors.yaml",
        "changed config/detectors.containers.yaml",
        "changed docker-compose.yml",
        "changed deploy/k8s/base/kustomization.yaml",
    ]:
        assert expected in changes

    entry = load_registry(repo / "config" / "detectors.yaml").get("new_detector")
    assert entry is not None and entry.port == port and entry.gpu and entry.enabled
    assert entry.url == f"http://127.0.0.1:{port}" and entry.media_types == ["image"]
    service = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]["new-detector"]
    assert service["build"]["dockerfile"] == "detectors/new_detector/Dockerfile"
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert f"TRIBUNAL_PORT={port}" in (repo / "detectors/new_detector/Dockerfile").read_text()
    assert deploy_files.check(repo) == []

    remove_model(repo, "new_detector")
    assert tree_diff(before, snapshot(repo)) == []


@pytest.mark.parametrize("media_type", ["image", "video"])
def test_generated_code_is_lint_clean_and_its_test_passes(repo, media_type):
    name = "a" + "_b" * 14 + "c"  # 30 characters: the longest name allowed
    assert len(name) == 30
    add_model(repo, name, media_type, free_registry_port(repo))
    generated = [repo / "detectors" / name, repo / "tests" / "detectors" / name]
    config = ["--config", str(repo / "pyproject.toml")]
    subprocess.run([*RUFF, "check", *config, *map(str, generated)], check=True, cwd=repo)
    subprocess.run([*RUFF, "format", "--check", *config, *map(str, generated)], check=True, cwd=repo)
    source = (repo / "detectors" / name / "detector.py").read_text()
    base = "ImageDetector" if media_type == "image" else "VideoDetector"
    assert f"class {class_name(name)}({base}):" in source

    # The scaffold's own contract test passes on the untouched skeleton (which abstains).
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/detectors/{name}"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": f"{repo}:{repo / 'sdk'}:{repo / 'tests'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_a_failure_midway_leaves_nothing_behind(repo, monkeypatch):
    before = snapshot(repo)

    def broken_generate(root):
        raise OSError("disk full")

    monkeypatch.setattr(deploy_files, "generate", broken_generate)
    with pytest.raises(OSError, match="disk full"):
        add_model(repo, "new_detector", "image", free_registry_port(repo))
    assert tree_diff(before, snapshot(repo)) == []


def test_remove_names_what_exists_when_the_detector_is_unknown(repo):
    with pytest.raises(RemoveModelError, match=r"no detector named 'nope'.*metadata_provenance"):
        remove_model(repo, "nope")


def test_class_names():
    assert class_name("demo_detector") == "DemoDetector"
    assert class_name("fft_spectral") == "FftSpectralDetector"
