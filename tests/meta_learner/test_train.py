"""Training on synthetic detector answers: dropout, every classifier, calibration, baselines, missing detectors."""

from __future__ import annotations

import numpy as np
import pytest

from meta_learner.classifiers import UnknownClassifier, classifier_names, get_classifier
from meta_learner.features import DetectorScore, encode
from meta_learner.metrics import evaluate, expected_calibration_error, log_loss
from meta_learner.train import TrainConfig, TrainingError, dropout_augment, train
from scripts.retrain import gateway_fusions
from support.meta_learning import synthetic_data

# What make retrain compares stacking against: the gateway's voting and averaging.
FUSIONS = gateway_fusions("image")


def test_all_ten_candidates_are_registered():
    assert set(classifier_names()) == {
        "best_detector",
        "equal_weight_logit",
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
        "svm",
        "knn",
        "naive_bayes",
        "xgboost",
        "lightgbm",
    }
    with pytest.raises(
        UnknownClassifier, match="known: best_detector, equal_weight_logit, logistic_regression"
    ):
        get_classifier("perceptron")


def test_dropout_keeps_the_originals_and_at_least_one_detector_per_copy():
    a, b = DetectorScore(0.9), DetectorScore(0.2)
    observations = [{"a": a, "b": b}, {"a": a}]
    out, origin = dropout_augment(observations, copies=50, rate=0.9, rng=np.random.default_rng(0))
    assert out[:2] == observations and origin.tolist()[:2] == [0, 1]
    assert len(out) == 2 + 100
    assert all(len(o) >= 1 for o in out)
    patterns = {tuple(sorted(o)) for o, i in zip(out, origin, strict=True) if i == 0}
    assert patterns == {("a",), ("b",), ("a", "b")}  # every non-empty subset shows up


def test_end_to_end_training_beats_the_baselines_and_handles_a_missing_detector():
    data = synthetic_data(300)
    result = train(data, TrainConfig(folds=4), progress=False, fusions=FUSIONS)
    assert {c.name for c in result.candidates if c.error is None} == set(classifier_names())
    assert result.winner in classifier_names()
    assert result.calibrator.method in ("platt", "isotonic")
    by_name = {b.name: b.test for b in result.baselines}
    assert result.stacking_test.log_loss < by_name["average"].log_loss
    assert result.stacking_test.log_loss < by_name["weak"].log_loss
    assert result.stacking_test.roc_auc > 0.85
    assert set(result.stacking_test.per_source_accuracy) == {"gen", "photo"}
    # The strong detector gone from every test row: still far better than chance, thanks to dropout.
    gone = {m.detector: m for m in result.missing_detector}["strong"]
    assert gone.stacking_log_loss < 0.69
    # The training rows' predictions carry the fitted calibration.
    test_rows = data.rows(["test"])
    x = encode(data.spec, [data.observations[i] for i in test_rows])
    assert result.predict(x) == pytest.approx(result.test_scores["stacking"])


def test_a_model_trained_with_dropout_copes_better_with_a_missing_detector_than_one_without():
    data = synthetic_data(400, seed=3)
    config = {"classifiers": ["logistic_regression"], "folds": 4}
    with_dropout = train(data, TrainConfig(**config, dropout_copies=2), progress=False, fusions=FUSIONS)
    without = train(data, TrainConfig(**config, dropout_copies=0), progress=False, fusions=FUSIONS)

    def without_strong(result):
        return {m.detector: m.stacking_log_loss for m in result.missing_detector}["strong"]

    assert without_strong(with_dropout) < without_strong(without)


def test_optuna_tunes_with_a_seed(monkeypatch):
    pytest.importorskip("optuna")
    data = synthetic_data(160)
    config = TrainConfig(
        classifiers=["logistic_regression", "xgboost"], optimizer="optuna", trials=3, folds=3
    )
    first = train(data, config, progress=False, fusions=FUSIONS)
    second = train(data, config, progress=False, fusions=FUSIONS)
    assert [c.tried for c in first.candidates] == [3, 3]
    assert [c.params for c in first.candidates] == [c.params for c in second.candidates]


def test_too_few_groups_is_a_clear_error():
    data = synthetic_data(60)
    data.groups[:] = "one-scene"
    with pytest.raises(TrainingError, match="scene group"):
        train(data, TrainConfig(classifiers=["naive_bayes"]), progress=False, fusions=FUSIONS)


def test_metrics():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([0.1, 0.4, 0.6, 0.9])
    m = evaluate(labels, probs, ["x", "y", "x", "y"])
    assert (m.roc_auc, m.accuracy) == (1.0, 1.0)
    assert m.log_loss == pytest.approx(log_loss(labels, probs))
    assert m.per_source_accuracy == {"x": 1.0, "y": 1.0}
    # All predicted 0.9 while half are fake: one bin, |0.9 - 0.5|.
    assert expected_calibration_error(np.array([0, 1]), np.array([0.9, 0.9])) == pytest.approx(0.4)
