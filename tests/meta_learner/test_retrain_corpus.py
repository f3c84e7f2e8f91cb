"""make retrain on an imported corpus: out-of-fold answers from files, the rest live, leave-source-out training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from benchmark.corpus import read_imported
from gateway.fusion import FusionContext, Vote
from gateway.fusion.stacking import StackingStrategy
from meta_learner import artifacts, dataset, paths
from meta_learner.crossval import source_folds
from meta_learner.train import TrainConfig, TrainingError
from scripts.retrain import RetrainError, RetrainOptions, retrain
from support.meta_learning import TINY_CORPUS_SOURCES, write_oof_file, write_tiny_corpus

DETECTORS = ("alpha", "beta", "meta")


@pytest.fixture
def setup(tmp_path, network):
    manifest = write_tiny_corpus(tmp_path / "corpus", per_source=10)
    rows = read_imported(manifest)
    network.add_files(rows)
    network.add("alpha")
    network.add("beta", task="attribution", classes=["real", "flux", "sd"])
    network.add("meta")  # no out-of-fold file: asked live
    detectors_dir = tmp_path / "detectors"
    labels = {r.sha256: r.is_fake for r in rows}
    # alpha's out-of-fold answers separate perfectly; asked live, it would score like the others (noisy).
    write_oof_file(
        detectors_dir / "alpha" / "weights" / "oof_answers.json",
        "alpha",
        manifest,
        lambda sha: 0.9 if labels[sha] else 0.1,
    )
    write_oof_file(
        detectors_dir / "beta" / "weights" / "oof_answers.json",
        "beta",
        manifest,
        lambda sha: network.score("beta", sha),
        classes=("real", "flux", "sd"),
    )
    registry = tmp_path / "detectors.yaml"
    entries = [
        {"name": n, "url": f"http://{n}", "port": 9100 + i, "media_types": ["image"]}
        for i, n in enumerate(DETECTORS)
    ]
    registry.write_text(yaml.safe_dump({"detectors": entries}))
    return RetrainOptions(
        media_type="image",
        manifest=manifest,
        registry=registry,
        artifacts_dir=tmp_path / "artifacts",
        reports_dir=tmp_path / "reports",
        cache_dir=tmp_path / "cache",
        detectors_dir=detectors_dir,
        progress=False,
        config=TrainConfig(classifiers=["logistic_regression", "naive_bayes", "lightgbm"]),
    )


async def test_retrain_on_a_corpus_learns_out_of_fold_and_deploys_what_the_gateway_serves(setup, network):
    options = setup
    outcome = await retrain(options, transport=network.transport())
    assert outcome.deployed and outcome.evaluation.startswith("leave-source-out")
    assert outcome.targets_met is not None
    # alpha and beta were never asked to predict: their answers came from their out-of-fold files.
    assert (network.calls["alpha"], network.calls["beta"], network.calls["meta"]) == (0, 0, 80)

    manifest = artifacts.read_manifest(outcome.artifact)
    assert manifest.spec.detectors == list(DETECTORS)
    assert manifest.spec.classes == {"beta": ["flux", "sd"]}
    assert manifest.config["answers"] == {"alpha": "out-of-fold", "beta": "out-of-fold", "meta": "live"}
    assert manifest.metrics["evaluation"].startswith("leave-source-out")
    assert manifest.independent_evidence == []  # every detector answered training files

    # Deployed, and the gateway's stacking strategy serves it.
    assert artifacts.deployed_version(options.artifacts_dir, "image") == outcome.version
    ctx = FusionContext(
        media_type="image",
        threshold=0.5,
        uncertainty_band=0.1,
        registered=DETECTORS,
        meta_learner_dir=options.artifacts_dir,
        class_probs={"beta": {"real": 0.1, "flux": 0.9, "sd": 0.0}},
    )
    fake = StackingStrategy().run([Vote("alpha", 0.9), Vote("beta", 0.9), Vote("meta", 0.6)], ctx)
    real = StackingStrategy().run([Vote("alpha", 0.1), Vote("beta", 0.1), Vote("meta", 0.4)], ctx)
    assert fake.method == f"stacking (image/{outcome.version})"
    assert fake.score_fake > 0.5 > real.score_fake

    # The report leads with the out-of-fold table of every method, the targets beside it.
    text = outcome.report.read_text()
    assert text.index("## Targets (issue #12), out-of-fold") < text.index(
        "## Every method, out-of-fold on the corpus"
    )
    for heading in (
        "## Per generator family, out-of-fold",
        "## Learned weight of each detector",
        "## Does each detector earn its place?",
        "## Per source accuracy, out-of-fold",
    ):
        assert heading in text
    assert "ROC-AUC (target >= 0.90)" in text and "ECE (target <= 0.05)" in text
    report = json.loads(outcome.report.with_suffix(".json").read_text())
    result = report["result"]
    methods = {m["name"]: m for m in result["methods"]}
    assert list(methods) == ["stacking", "voting", "average", *DETECTORS]
    # alpha's figures are those of its out-of-fold file (perfect), not of the noisy live detector.
    assert methods["alpha"]["oof"]["roc_auc"] == 1.0
    assert set(methods["stacking"]["oof"]["per_family_roc_auc"]) == {"sd", "flux"}
    assert len(methods["stacking"]["oof"]["per_source_accuracy"]) == len(TINY_CORPUS_SOURCES)
    assert {w["detector"] for w in result["without"]} == set(DETECTORS)
    assert {w["detector"] for w in result["weights"]} == set(DETECTORS)
    assert all(w["coefficient"] is not None for w in result["weights"])
    assert [c["target"] for c in result["checks"]] == [
        "fused ROC-AUC >= 0.90",
        "every family with >= 20 images: ROC-AUC >= 0.80",
        "ECE <= 0.05",
    ]

    # The folds are the manifest's and keep sources apart.
    expected = {}
    for source, _, _, fold in TINY_CORPUS_SOURCES:
        expected.setdefault(fold, set()).add(source)
    assert {f["fold"]: set(f["sources"]) for f in result["folds"]} == expected

    # make eval: from the cache and the files, no detector asked.
    options.from_cache = True
    again = await retrain(options, transport=None)
    assert again.version != outcome.version
    assert network.calls["meta"] == 80


def test_folds_never_put_a_source_on_both_sides():
    sources = np.asarray(["a", "a", "b", "b", "c", "c", "d", "d"])
    labels = np.asarray([0, 0, 1, 1, 0, 0, 1, 1])
    folds = np.asarray([0, 0, 0, 0, 1, 1, 1, 1])
    for train_idx, test_idx in source_folds(folds, sources, labels):
        assert not set(sources[train_idx]) & set(sources[test_idx])
    folds[1] = 1  # source a now straddles two folds
    with pytest.raises(TrainingError, match=r"a in folds \[0, 1\].*keep every source whole"):
        source_folds(folds, sources, labels)


async def test_answers_for_other_weights_stop_the_run_unless_allowed(setup, network):
    options = setup
    network.services["alpha"].weights_sha256 = "d" * 64  # retrained since the file was written
    with pytest.raises(RetrainError, match=r"(?s)make train-detector NAME=alpha.*ALLOW_MISSING=1"):
        await retrain(options, transport=network.transport())

    options.allow_missing = True
    outcome = await retrain(options, transport=network.transport())
    manifest = artifacts.read_manifest(outcome.artifact)
    assert manifest.spec.detectors == list(DETECTORS)  # still the registry's, alpha always missing
    assert manifest.detector_versions["alpha"] is None
    assert manifest.config["answers"]["alpha"].startswith("missing")
    assert network.calls["alpha"] == 0  # never asked live instead: its live answers would be in-sample


def test_the_imported_corpus_is_the_default_when_there_is_one(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus" / "manifest.csv"
    monkeypatch.setattr("benchmark.corpus.DEFAULT_IMPORTED", corpus)
    assert dataset.default_manifest("image") == paths.DEFAULT_MANIFESTS["image"]
    write_tiny_corpus(corpus.parent, per_source=1)
    assert dataset.default_manifest("image") == corpus
    assert dataset.is_corpus_manifest(corpus)
    assert dataset.default_manifest("video") == paths.DEFAULT_MANIFESTS["video"]
