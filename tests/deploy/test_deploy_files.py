"""The committed deployment files are what the registry renders; drift is caught and named."""

import yaml

from gateway.registry import REPO_ROOT
from scripts import deploy_files
from support.repo_tree import copy_repo


def test_the_committed_files_match_the_registry():
    problems = deploy_files.check(REPO_ROOT)
    assert problems == [], "run `make deploy-files`:\n" + "\n".join(problems)


def test_a_registry_change_without_regenerating_is_drift(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    registry_path = repo / "config/detectors.yaml"
    registry = yaml.safe_load(registry_path.read_text())
    enabled = next(d for d in registry["detectors"] if d.get("enabled", True))
    enabled["port"] = 9999
    enabled["url"] = "http://127.0.0.1:9999"
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    package = enabled.get("package", enabled["name"])
    service = enabled["name"].replace("_", "-")

    problems = deploy_files.check(repo)
    assert "docker-compose.yml: differs from what the generator renders" in problems
    assert "config/detectors.containers.yaml: differs from what the generator renders" in problems
    assert f"detectors/{package}/Dockerfile: differs from what the generator renders" in problems
    assert f"deploy/k8s/base/detectors/{service}.yaml: differs from what the generator renders" in problems

    deploy_files.generate(repo)
    assert deploy_files.check(repo) == []
    assert "TRIBUNAL_PORT: '9999'" in (repo / "docker-compose.yml").read_text()


def test_hand_edits_missing_and_left_over_files_are_drift(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    compose = repo / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("unless-stopped", "always", 1))
    (repo / "deploy/k8s/overlays/gpu/kustomization.yaml").unlink()
    stray = repo / "deploy/k8s/base/detectors/removed-detector.yaml"
    stray.write_text("kind: Deployment\n")

    problems = deploy_files.check(repo)
    assert "docker-compose.yml: differs from what the generator renders" in problems
    assert "deploy/k8s/overlays/gpu/kustomization.yaml: missing" in problems
    assert (
        "deploy/k8s/base/detectors/removed-detector.yaml: left over (nothing renders it any more)" in problems
    )

    deploy_files.generate(repo)
    assert deploy_files.check(repo) == [] and not stray.exists()
