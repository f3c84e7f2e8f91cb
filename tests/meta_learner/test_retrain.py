"""make retrain / make eval end to end against fake detector services (scripts/retrain.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from meta_learner import artifacts
from meta_learner.dataset import read_manifest
from meta_learner.train import TrainConfig
from scripts.retrain import RetrainError, RetrainOptions, retrain
from support.tiny_benchmark import make_tiny_benchmark


@pytest.fixture
def setup(tmp_path, network):
    manifest = make_tiny_benchmark(tmp_path / "bench", {"train": 2, "val": 8, "test": 4}, size=32)
    network.add_files(read_manifest(manifest))
    network.add("alpha")
    network.add("beta", task="attribution", classes=["real", "flux", "sim_nearest_conv"])
    network.add("meta", mode="abstain")
    registry = tmp_path / "detectors.yaml"
    entries = [
        {"name": n, "url": f"http://{n}", "port": 9100 + i, "media_types": ["image"]}
        for i, n in enumerate(["alpha", "beta", "meta"])
    ]
    registry.write_text(yaml.safe_dump({"detectors": entries}))
    options = RetrainOptions(
        media_type="image",
        manifest=manifest,
        registry=registry,
        artifacts_dir=tmp_path / "artifacts",
        reports_dir=tmp_path / "reports",
        cache_dir=tmp_path / "cache",
        progress=False,
        config=TrainConfig(classifiers=["logistic_regression", "lightgbm"], folds=3),
    )
    return options


async def test_retrain_deploys_reports_and_reruns_from_the_cache(setup, network):
    options = setup
    outcome = await retrain(options, transport=network.transport())
    assert outcome.deployed
    assert artifacts.deployed_version(options.artifacts_dir, "image") == outcome.version
    manifest = artifacts.read_manifest(outcome.artifact)
    assert manifest.spec.detectors == ["alpha", "beta", "meta"]
    assert manifest.spec.classes == {"beta": ["flux", "sim_nearest_conv"]}
    assert manifest.detector_versions == {"alpha": "1.0.0", "beta": "1.0.0", "meta": "1.0.0"}
    assert len(manifest.training_data_hash) == 64
    report = json.loads(outcome.report.with_suffix(".json").read_text())
    names = {b["name"] for b in report["result"]["baselines"]}
    assert names == {"voting", "average", "alpha", "beta", "meta"}
    assert "## Per-source accuracy (test)" in outcome.report.read_text()
    first_calls = sum(network.calls.values())
    assert first_calls == 3 * 3 * 14  # every file, every detector, once

    # make eval: no detector is asked at all (not even probed: the transport is gone).
    options.from_cache = True
    again = await retrain(options, transport=None)
    assert again.version != outcome.version
    assert sum(network.calls.values()) == first_calls

    # make retrain again: probes, but every answer is cached.
    options.from_cache = False
    await retrain(options, transport=network.transport())
    assert sum(network.calls.values()) == first_calls


async def test_retrain_stops_naming_detectors_that_are_not_ready_unless_allowed(setup, network):
    options = setup
    network.services["beta"].ready = False
    with pytest.raises(RetrainError, match=r"(?s)not ready:\n  - beta: weights missing.*ALLOW_MISSING=1"):
        await retrain(options, transport=network.transport())
    assert network.calls["alpha"] == 0

    options.allow_missing = True
    outcome = await retrain(options, transport=network.transport())
    manifest = artifacts.read_manifest(outcome.artifact)
    # The registry's detector stays in the feature list (always missing), so the gateway accepts it.
    assert manifest.spec.detectors == ["alpha", "beta", "meta"]
    assert manifest.detector_versions["beta"] is None


async def test_eval_without_a_previous_retrain_is_a_clear_error(setup):
    setup.from_cache = True
    with pytest.raises(RetrainError, match="run make retrain MEDIA_TYPE=image first"):
        await retrain(setup)
