"""make retrain stores the score reference (each detector's and each fusion's training distribution) with
the artifact, and the gateway's drift watch reads it from there."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from benchmark.corpus import read_imported
from gateway.drift import ReferenceLoader
from gateway.registry import load_registry
from gateway.settings import GatewaySettings
from meta_learner import artifacts
from meta_learner.artifacts import REFERENCE_BINS, ScoreHistogram, ScoreReference, score_bin
from meta_learner.dataset import read_manifest
from meta_learner.features import DetectorScore
from meta_learner.train import TrainConfig
from scripts.retrain import RetrainOptions, retrain
from support.meta_learning import write_oof_file, write_tiny_corpus
from support.tiny_benchmark import make_tiny_benchmark


def registry_file(tmp_path, names) -> str:
    path = tmp_path / "detectors.yaml"
    entries = [
        {"name": n, "url": f"http://{n}", "port": 9100 + i, "media_types": ["image"]}
        for i, n in enumerate(names)
    ]
    path.write_text(yaml.safe_dump({"detectors": entries}))
    return path


def test_a_histogram_counts_scores_per_bin_and_abstentions_apart():
    histogram = ScoreHistogram.of([0.0, 0.004, 0.5, 1.0, None, float("nan")])
    assert len(histogram.counts) == REFERENCE_BINS
    assert histogram.counts[0] == 2 and histogram.counts[50] == 1 and histogram.counts[-1] == 1
    assert histogram.size == 4 and histogram.abstained == 2
    assert score_bin(1.0) == REFERENCE_BINS - 1 and score_bin(0.999) == REFERENCE_BINS - 1


def test_a_reference_with_the_wrong_bin_count_is_refused():
    with pytest.raises(ValidationError, match="expected 100 non-negative bin counts"):
        ScoreReference(source="x", detectors={"a": ScoreHistogram(counts=[1, 2, 3])})


def test_reference_from_rows_leaves_rows_nobody_answered_out_of_the_fusions():
    rows = [{"a": DetectorScore(0.9)}, {}, {"a": DetectorScore(0.2), "b": DetectorScore(0.4)}]
    reference = artifacts.reference_from_rows("t", ["a", "b"], rows, {"average": [0.9, 0.5, 0.3]})
    assert reference.detectors["a"].size == 2 and reference.detectors["a"].abstained == 1
    assert reference.detectors["b"].size == 1 and reference.detectors["b"].abstained == 2
    assert reference.fused["average"] == ScoreHistogram.of([0.9, 0.3])  # not the 0.5 of the empty row


@pytest.fixture
def corpus(tmp_path, network):
    manifest = write_tiny_corpus(tmp_path / "corpus", per_source=8)
    rows = read_imported(manifest)
    network.add_files(rows)
    network.add("alpha")
    network.add("meta")  # no out-of-fold file: asked live
    labels = {r.sha256: r.is_fake for r in rows}
    write_oof_file(
        tmp_path / "detectors" / "alpha" / "weights" / "oof_answers.json",
        "alpha",
        manifest,
        lambda sha: 0.9 if labels[sha] else 0.1,
    )
    options = RetrainOptions(
        media_type="image",
        manifest=manifest,
        registry=registry_file(tmp_path, ["alpha", "meta"]),
        artifacts_dir=tmp_path / "artifacts",
        reports_dir=tmp_path / "reports",
        cache_dir=tmp_path / "cache",
        detectors_dir=tmp_path / "detectors",
        progress=False,
        config=TrainConfig(classifiers=["logistic_regression"]),
    )
    return options, rows


async def test_retrain_on_a_corpus_stores_the_out_of_fold_reference_the_gateway_then_watches(
    corpus, network, tmp_path
):
    options, rows = corpus
    outcome = await retrain(options, transport=network.transport())
    reference = artifacts.load_reference(options.artifacts_dir, "image", outcome.version)
    assert reference is not None
    assert (outcome.artifact / artifacts.REFERENCE_FILE).is_file()
    assert (
        reference.source.startswith("out-of-fold answers on ") and "live answers for meta" in reference.source
    )

    # alpha's reference is its out-of-fold file (0.9 for every fake, 0.1 for every real), not its live answers.
    fakes = sum(r.is_fake for r in rows)
    alpha = reference.detectors["alpha"]
    assert alpha.counts[score_bin(0.9)] == fakes and alpha.counts[score_bin(0.1)] == len(rows) - fakes
    assert reference.detectors["meta"].size == len(rows)
    # Every fusion's out-of-fold score on every image: the gateway's average and voting, and stacking.
    assert set(reference.fused) == {"stacking", "voting", "average"}
    assert all(h.size == len(rows) for h in reference.fused.values())

    # The gateway reads it from the deployed artifact, for every registry detector.
    settings = GatewaySettings(
        meta_learner_dir=options.artifacts_dir,
        drift_detectors_dir=tmp_path / "nowhere",
        data_dir=tmp_path / "data",
    )
    refs = ReferenceLoader(settings, load_registry(options.registry), bins=10).load()
    assert refs.version == outcome.version
    assert set(refs.detectors) == {"alpha", "meta"} and set(refs.fused) == {"stacking", "voting", "average"}
    assert refs.detectors["alpha"].histogram == alpha
    assert refs.origin == f"meta-learner image/{outcome.version} (reference.json)"


async def test_retrain_on_the_patch_benchmark_stores_the_test_split_reference(tmp_path, network):
    manifest = make_tiny_benchmark(tmp_path / "bench", {"train": 2, "val": 8, "test": 4}, size=32)
    items = read_manifest(manifest)
    network.add_files(items)
    network.add("alpha")
    network.add("meta", mode="abstain")
    options = RetrainOptions(
        media_type="image",
        manifest=manifest,
        registry=registry_file(tmp_path, ["alpha", "meta"]),
        artifacts_dir=tmp_path / "artifacts",
        reports_dir=tmp_path / "reports",
        cache_dir=tmp_path / "cache",
        progress=False,
        config=TrainConfig(classifiers=["logistic_regression"], folds=3),
    )
    outcome = await retrain(options, transport=network.transport())
    reference = artifacts.load_reference(options.artifacts_dir, "image", outcome.version)
    test_files = sum(item.split == "test" for item in items)
    assert reference is not None and "test split" in reference.source
    assert reference.detectors["alpha"].size == test_files
    assert reference.detectors["meta"].size == 0 and reference.detectors["meta"].abstained == test_files
    assert all(h.size == test_files for h in reference.fused.values())


def test_an_artifact_saved_without_a_reference_has_none(tmp_path):
    assert artifacts.load_reference(tmp_path, "image", "nothing-here") is None
    with pytest.raises(artifacts.ArtifactError, match="invalid artifact version"):
        artifacts.load_reference(tmp_path, "image", "../escape")
    bad = tmp_path / "image" / "v1"
    bad.mkdir(parents=True)
    (bad / artifacts.REFERENCE_FILE).write_text('{"source": "x", "detectors": {"a": {"counts": [1]}}}')
    with pytest.raises(artifacts.ArtifactError, match="not a valid score reference"):
        artifacts.load_reference(tmp_path, "image", "v1")
