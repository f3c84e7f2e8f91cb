"""The baselines stacking is compared against are handed in: any fusion by name, the gateway's by make retrain."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.fusion import FusionContext, Vote, get_strategy
from meta_learner import baselines
from meta_learner.features import DetectorScore
from meta_learner.report import headline
from meta_learner.train import TrainConfig, TrainingError, train
from scripts.retrain import BASELINE_FUSIONS, gateway_fusions
from support.meta_learning import synthetic_data

ROWS = [
    {"a": DetectorScore(0.9), "b": DetectorScore(0.3)},
    {"a": DetectorScore(0.2)},
    {},  # every detector abstained or failed
]


def test_a_fusion_sees_each_rows_usable_scores_with_their_weights_and_an_empty_row_scores_one_half():
    seen = []

    def highest(scores):
        seen.append(list(scores))
        return max((s.prob_fake for s in scores), default=None)

    scores = baselines.fused_scores(highest, ROWS, {"a": 2.0})
    assert scores.tolist() == [0.9, 0.2, baselines.NO_SCORE]
    assert seen[0] == [("a", 0.9, 2.0), ("b", 0.3, 1.0)]  # a detector without a weight counts 1


@pytest.mark.parametrize("method", BASELINE_FUSIONS)
def test_make_retrain_hands_in_the_gateways_own_strategies(method):
    weights = {"a": 1.0, "b": 3.0}
    fused = baselines.fused_scores(gateway_fusions("image")[method], ROWS, weights)
    ctx = FusionContext(media_type="image", threshold=0.5, uncertainty_band=0.0)
    for row, score in zip(ROWS, fused, strict=True):
        votes = [Vote(name, answer.prob_fake, weights[name]) for name, answer in row.items()]
        expected = get_strategy(method).run(votes, ctx).score_fake
        assert score == pytest.approx(baselines.NO_SCORE if expected is None else expected)
    assert fused[0] == pytest.approx({"voting": 0.25, "average": 0.45}[method])


def test_the_baselines_are_reported_in_the_order_and_under_the_names_handed_in():
    def constant(scores):
        return 0.5 if scores else None

    fusions = {"median_of_none": constant, **gateway_fusions("image")}
    result = train(
        synthetic_data(160), TrainConfig(classifiers=["naive_bayes"], folds=3), False, fusions=fusions
    )
    names = [b.name for b in result.baselines]
    assert names[:3] == ["median_of_none", "voting", "average"]
    assert list(result.test_scores)[:4] == ["stacking", "median_of_none", "voting", "average"]
    versus = headline(result)["versus"]
    assert list(versus)[1:] == ["median_of_none", "voting", "average"]  # after the best single detector


def test_training_without_an_average_to_compare_with_is_a_clear_error():
    only_voting = gateway_fusions("image", names=["voting"])
    with pytest.raises(TrainingError, match=r"fusion named 'average'.*given: \['voting'\]"):
        train(synthetic_data(60), TrainConfig(classifiers=["naive_bayes"]), False, fusions=only_voting)


def test_single_detector_scores_and_coverage():
    scores, coverage = baselines.single_scores("b", ROWS)
    assert scores.tolist() == [0.3, baselines.NO_SCORE, baselines.NO_SCORE]
    assert coverage == pytest.approx(1 / 3)
    assert isinstance(scores, np.ndarray)
