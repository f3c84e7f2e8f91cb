"""Artifacts: every format round-trips, writes are atomic, the pointer switches last, nothing unsafe loads."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest

from meta_learner import artifacts
from meta_learner.artifacts import ArtifactError, FeatureMismatch, UnsafeArtifact
from meta_learner.classifiers import get_classifier
from meta_learner.features import FeatureSpec, encode
from support.meta_learning import make_manifest, save_fitted_artifact, synthetic_data
from tribunal_sdk.media import file_sha256


@pytest.mark.parametrize(
    "classifier",
    [
        "best_detector",
        "equal_weight_logit",
        "logistic_regression",
        "random_forest",
        "knn",
        "svm",
        "xgboost",
        "lightgbm",
    ],
)
def test_every_format_round_trips_to_the_same_scores(tmp_path, classifier):
    path = save_fitted_artifact(tmp_path, "v1", classifier=classifier, deploy=False)
    manifest = artifacts.read_manifest(path)
    assert manifest.model_file == artifacts.MODEL_FILES[manifest.model_format]
    assert not list(path.glob("*.pkl"))
    loaded = artifacts.load_artifact(tmp_path, "image", "v1")
    data = synthetic_data(20, seed=9)
    scores = loaded.predict(data.observations)
    assert scores.shape == (20,) and np.all((scores > 0) & (scores < 1))
    # A missing detector is a valid input too.
    assert 0 < loaded.predict([{"weak": data.observations[0]["weak"]}])[0] < 1


def test_deploy_switches_the_pointer_and_load_deployed_follows_it(tmp_path):
    assert artifacts.load_deployed(tmp_path, "image") is None
    save_fitted_artifact(tmp_path, "v1")
    assert artifacts.deployed_version(tmp_path, "image") == "v1"
    save_fitted_artifact(tmp_path, "v2")
    assert artifacts.load_deployed(tmp_path, "image").version == "v2"
    assert artifacts.list_versions(tmp_path, "image") == ["v1", "v2"]
    with pytest.raises(ArtifactError, match="never overwritten"):
        save_fitted_artifact(tmp_path, "v2")


def test_a_crash_while_writing_leaves_the_old_artifact_and_pointer_intact(tmp_path, monkeypatch):
    save_fitted_artifact(tmp_path, "v1")
    before = (tmp_path / "image" / "deployed.json").read_bytes()

    def crash(model, model_format, path):
        path.write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "_write_model", crash)
    with pytest.raises(OSError, match="disk full"):
        save_fitted_artifact(tmp_path, "v2")
    assert not (tmp_path / "image" / "v2").exists()
    assert not [p for p in (tmp_path / "image").iterdir() if p.name.startswith(".tmp-")]
    assert (tmp_path / "image" / "deployed.json").read_bytes() == before
    assert artifacts.load_deployed(tmp_path, "image").version == "v1"


def test_a_killed_writer_leftover_is_ignored_and_a_broken_version_is_never_deployed(tmp_path):
    save_fitted_artifact(tmp_path, "v1")
    # What a SIGKILL mid-write leaves: a temporary directory with half the files.
    leftover = tmp_path / "image" / ".tmp-v2-999"
    leftover.mkdir()
    (leftover / "model.skops").write_bytes(b"half")
    assert artifacts.list_versions(tmp_path, "image") == ["v1"]
    # A complete-looking version whose model does not match its manifest: deploy refuses it.
    broken = save_fitted_artifact(tmp_path, "v3", deploy=False)
    (broken / "model.skops").write_bytes(b"tampered")
    with pytest.raises(UnsafeArtifact, match="sha256"):
        artifacts.deploy(tmp_path, "image", "v3")
    assert artifacts.deployed_version(tmp_path, "image") == "v1"


def test_an_artifact_whose_detectors_differ_from_the_registry_is_refused(tmp_path):
    save_fitted_artifact(tmp_path, "v1", detectors=("strong", "weak"))
    loaded = artifacts.load_artifact(tmp_path, "image", "v1")
    loaded.check_detectors(["weak", "strong"])  # order does not matter
    with pytest.raises(FeatureMismatch, match=r"registry has \['attr'\].*make retrain MEDIA_TYPE=image"):
        loaded.check_detectors(["strong", "weak", "attr"])
    with pytest.raises(FeatureMismatch, match=r"needs \['weak'\]"):
        loaded.check_detectors(["strong"])


def test_a_manifest_whose_feature_list_disagrees_with_its_spec_is_refused(tmp_path):
    path = save_fitted_artifact(tmp_path, "v1", deploy=False)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["features"] = list(reversed(manifest["features"]))
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="feature list"):
        artifacts.load_artifact(tmp_path, "image", "v1")


def test_version_warnings_name_the_detector_and_both_versions(tmp_path):
    save_fitted_artifact(
        tmp_path, "v1", versions={"strong": "1.0", "weak": "2.0", "attr": "1.0", "meta": "1.0"}
    )
    loaded = artifacts.load_deployed(tmp_path, "image")
    notes = loaded.version_warnings({"strong": "1.0", "weak": "2.1"})
    assert len(notes) == 1 and "weak answered as version 2.1" in notes[0] and "trained on 2.0" in notes[0]


# Never executing what a file says -------------------------------------------------------------------


class Boom:
    """Unpickling this creates the marker file: proof that a load executed code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _write_manifest_for(directory, model_file, model_format="skops"):
    spec = synthetic_data(10).spec
    manifest = make_manifest(spec, directory.name).model_copy(
        update={
            "model_file": model_file,
            "model_format": model_format,
            "model_sha256": file_sha256(directory / model_file),
        }
    )
    (directory / "manifest.json").write_text(manifest.model_dump_json())


def test_a_pickle_is_never_loaded_whatever_the_manifest_says(tmp_path):
    marker = tmp_path / "executed"
    directory = tmp_path / "image" / "evil"
    directory.mkdir(parents=True)
    (directory / "model.pkl").write_bytes(pickle.dumps(Boom(marker)))
    _write_manifest_for(directory, "model.pkl")
    with pytest.raises(UnsafeArtifact, match="only skops, XGBoost JSON and LightGBM text"):
        artifacts.load_artifact(tmp_path, "image", "evil")
    # The same pickle named as a skops file: skops cannot read it, nothing is unpickled.
    shutil.copy(directory / "model.pkl", directory / "model.skops")
    _write_manifest_for(directory, "model.skops")
    with pytest.raises(UnsafeArtifact, match="not a readable skops file"):
        artifacts.load_artifact(tmp_path, "image", "evil")
    # And a format the loader does not know is refused by the manifest schema.
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["model_format"] = "pickle"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="invalid manifest"):
        artifacts.load_artifact(tmp_path, "image", "evil")
    assert not marker.exists()


def test_a_skops_file_with_types_outside_the_allow_list_is_refused(tmp_path, monkeypatch):
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    directory = tmp_path / "image" / "evil"
    directory.mkdir(parents=True)
    # A "model" whose transform step is os.system: loading it would hand a shell to the file's author.
    evil = make_pipeline(FunctionTransformer(os.system, kw_args={"command": "touch pwned"}))
    sio.dump(evil, directory / "model.skops")
    _write_manifest_for(directory, "model.skops")
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))
    with pytest.raises(UnsafeArtifact, match=r"outside the allow-list: .*system"):
        artifacts.load_artifact(tmp_path, "image", "evil")
    assert calls == []


def test_versions_that_try_to_leave_the_directory_are_refused(tmp_path):
    with pytest.raises(ArtifactError, match="invalid artifact version"):
        artifacts.load_artifact(tmp_path, "image", "../../etc")


def test_an_artifact_predicts_like_the_model_it_was_saved_from(tmp_path):
    path = save_fitted_artifact(tmp_path, "v1", deploy=False)
    loaded = artifacts.load_artifact(tmp_path, "image", "v1")
    data = synthetic_data(30, seed=4)
    raw = loaded.scorer.predict_fake(encode(loaded.spec, data.observations))
    assert loaded.predict(data.observations) == pytest.approx(loaded.manifest.calibrator.apply(raw))
    assert path.name == "v1"


def test_the_equal_weight_candidate_gives_every_detector_logit_the_same_weight():
    from meta_learner.equal_weight import EqualWeightLogit

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    signal = lambda: (2 * y - 1) + rng.normal(0, 1, 300)  # noqa: E731
    # Columns: detector A's logit, its missing flag, a class probability, detector B's logit, its flag.
    x = np.c_[signal(), np.zeros(300), rng.random(300), 3 * signal(), np.zeros(300)]
    model = EqualWeightLogit(C=100.0).fit(x, y)
    coef = model.coef_[0]
    assert coef[0] == pytest.approx(coef[3]) and coef[0] > 0
    assert coef[1] == coef[2] == coef[4] == 0.0
    with pytest.raises(ValueError, match="log-odds column"):
        EqualWeightLogit().fit(np.c_[rng.random(300)], y)


def test_a_detector_never_seen_in_training_adds_its_log_odds_when_it_answers(tmp_path):
    # "meta" is in the spec but answered no training row: the model has no weight for it, so the
    # artifact adds its log-odds to the calibrated score (a generator's C2PA manifest must count).
    from meta_learner.features import DetectorScore, logit

    spec = FeatureSpec(media_type="image", detectors=["strong", "meta"])
    data = synthetic_data(200, seed=5)
    rows = [{"strong": o["strong"]} for o in data.observations]
    info = get_classifier("logistic_regression")
    model = info.build(info.grid[-1], 0).fit(encode(spec, rows), data.labels)
    manifest = make_manifest(spec, "v1").model_copy(update={"independent_evidence": ["meta"]})
    artifacts.save_artifact(tmp_path, manifest, model)
    loaded = artifacts.load_artifact(tmp_path, "image", "v1")

    pixels_only = {"strong": DetectorScore(0.6)}
    with_manifest = {**pixels_only, "meta": DetectorScore(0.99)}
    with_camera = {**pixels_only, "meta": DetectorScore(0.35)}
    base, fake, real = loaded.predict([pixels_only, with_manifest, with_camera])
    assert logit(fake) == pytest.approx(logit(base) + logit(0.99), abs=1e-6)
    assert real < base < 0.99 < fake

    # An artifact written before the field existed reads as having none, and ignores the detector.
    old = json.loads((tmp_path / "image" / "v1" / "manifest.json").read_text())
    del old["independent_evidence"]
    assert artifacts.ArtifactManifest.model_validate(old).independent_evidence == []
