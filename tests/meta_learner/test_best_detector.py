"""The best-detector candidate: it answers with the detector that ranks files best, the next one where
that detector is missing, and is chosen over blends when the blends do worse out of fold."""

from __future__ import annotations

import numpy as np
import pytest

from meta_learner.best_detector import BestDetectorChain
from meta_learner.features import DetectorScore, FeatureSpec, detector_columns, encode


def _answers(n: int = 400, seed: int = 0):
    """A strong detector, calibrated by construction (each label is drawn from its probability), and a
    weak one; the strong one misses every fifth file."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, n)
    strong = 1 / (1 + np.exp(-z))
    y = (rng.random(n) < strong).astype(int)
    weak = 1 / (1 + np.exp(-(0.3 * z + rng.normal(0, 1, n))))
    observations = []
    for i in range(n):
        row = {"weak": DetectorScore(float(weak[i]))}
        if i % 5:
            row["strong"] = DetectorScore(float(strong[i]))
        observations.append(row)
    spec = FeatureSpec(media_type="image", detectors=["weak", "strong"])
    return spec, observations, y, strong, weak


def test_it_answers_with_the_best_detector_and_falls_back_where_it_is_missing():
    spec, observations, y, strong, weak = _answers(n=1000)
    x = encode(spec, observations)
    model = BestDetectorChain(refit=False).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    answered = np.arange(len(y)) % 5 != 0
    # Kept at its word: exactly the strong detector's probability (up to the features' clipping) ...
    assert p[answered] == pytest.approx(strong[answered], abs=1e-4)
    # ... and the weak one's on the files the strong one did not answer.
    assert p[~answered] == pytest.approx(weak[~answered], abs=1e-4)
    # Nobody answered: the training base rate.
    nobody = encode(spec, [{}])
    assert model.predict_proba(nobody)[0, 1] == pytest.approx(y.mean(), abs=1e-9)


def test_refitting_recalibrates_a_detector_that_is_overconfident():
    spec, observations, y, strong, _ = _answers(seed=1)
    # The same answers with their log-odds doubled: right in rank, overconfident in value.
    loud = [
        {**o, "strong": DetectorScore(float(1 / (1 + (1 / s - 1) ** 2)))}
        for o, s in zip(observations, strong, strict=True)
        if "strong" in o
    ]
    x = encode(spec, loud)
    labels = y[np.arange(len(y)) % 5 != 0]
    kept = BestDetectorChain(refit=False).fit(x, labels)
    refit = BestDetectorChain(refit=True).fit(x, labels)
    assert refit.slope_[0] == pytest.approx(0.5, abs=0.15)  # it halves the doubled log-odds
    assert refit.train_log_loss_[0] < kept.train_log_loss_[0]


def test_a_detector_that_seldom_answers_cannot_rank_first_on_a_few_easy_files():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    sign = 2 * y - 1
    rows = []
    for i in range(300):
        row = {"steady": DetectorScore(float(1 / (1 + np.exp(-(1.5 * sign[i] + rng.normal())))))}
        if i < 15:  # perfect, but on 5% of the files
            row["rare"] = DetectorScore(0.999 if y[i] else 0.001)
        rows.append(row)
    spec = FeatureSpec(media_type="image", detectors=["rare", "steady"])
    model = BestDetectorChain(refit=False).fit(encode(spec, rows), y)
    names = {0: "rare", 2: "steady"}
    assert [names[int(c)] for c in model.order_] == ["steady", "rare"]


def test_columns_that_are_not_a_logit_and_its_flag_are_refused():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="log-odds column"):
        detector_columns(rng.random((50, 3)))
    with pytest.raises(ValueError, match="not its missing flag"):
        detector_columns(np.c_[rng.normal(size=50), rng.random(50)])


def test_it_wins_the_leave_source_out_selection_when_blending_only_adds_noise():
    from meta_learner.crossval import CorpusData, train_leave_source_out
    from meta_learner.train import TrainConfig
    from scripts.retrain import gateway_fusions

    rng = np.random.default_rng(4)
    n, n_sources = 600, 12
    sources = rng.integers(0, n_sources, n)
    y = (sources % 2).astype(int)  # every source is all real or all fake, like the corpus
    sign = 2 * y - 1
    shift = rng.normal(0, 1.5, n_sources)  # a second detector whose scores shift with the source
    good = 1 / (1 + np.exp(-(2.0 * sign + rng.normal(0, 1, n))))
    noisy = 1 / (1 + np.exp(-(0.3 * sign + shift[sources] + rng.normal(0, 1, n))))
    observations = [
        {"good": DetectorScore(float(g)), "noisy": DetectorScore(float(s))}
        for g, s in zip(good, noisy, strict=True)
    ]
    data = CorpusData(
        spec=FeatureSpec(media_type="image", detectors=["good", "noisy"]),
        observations=observations,
        labels=y,
        folds=sources % 4,
        sources=np.asarray([f"s{s}" for s in sources]),
        families=np.where(y == 1, "sd", "real"),
        weights={"good": 1.0, "noisy": 1.0},
    )
    config = TrainConfig(classifiers=["best_detector", "logistic_regression", "knn"])
    result = train_leave_source_out(data, config, progress=False, fusions=gateway_fusions("image"))
    assert result.winner == "best_detector"
    good = result.method("good").oof
    assert result.stacking.oof.log_loss < good.log_loss  # the good detector, recalibrated
    assert result.stacking.oof.roc_auc == pytest.approx(good.roc_auc, abs=0.01)
    # The report says which detector answers and which stands in.
    assert "answers with `good`" in result.weights_note and "then `noisy`" not in result.weights_note
    assert "with the next that did: `noisy`" in result.weights_note
