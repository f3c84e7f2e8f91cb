"""Fusion math: weighted average, voting, the uncertainty band, ties, abstentions, the stacking slot."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.errors import UnknownStrategy
from gateway.fusion import FusionContext, FusionResult, FusionStrategy, Vote, get_strategy, strategy_names
from gateway.fusion import base as fusion_base
from gateway.fusion.base import distance_confidence, register_strategy, verdict_for
from gateway.fusion.stacking import StackingStrategy

CTX = FusionContext(media_type="image", threshold=0.5, uncertainty_band=0.1)
NO_BAND = FusionContext(media_type="image", threshold=0.5, uncertainty_band=0.0)


def test_builtin_strategies_are_registered():
    assert strategy_names() == ["average", "stacking", "voting"]


def test_an_unknown_strategy_lists_the_known_ones():
    with pytest.raises(UnknownStrategy) as caught:
        get_strategy("median")
    assert caught.value.status_code == 422
    body = caught.value.to_body()
    assert body["error"] == "unknown_ensemble_method"
    assert body["known"] == ["average", "stacking", "voting"]
    assert "median" in body["detail"] and "voting" in body["detail"]


def test_a_new_strategy_is_one_class_and_one_registration(monkeypatch):
    monkeypatch.setattr(fusion_base, "_STRATEGIES", dict(fusion_base._STRATEGIES))

    @register_strategy("maximum")
    class MaximumStrategy(FusionStrategy):
        def fuse(self, votes, ctx):
            top = max(v.prob_fake for v in votes)
            return FusionResult(top, verdict_for(top, ctx.threshold, ctx.uncertainty_band), None, self.name)

    assert "maximum" in strategy_names()
    result = get_strategy("maximum").run([Vote("a", 0.2), Vote("b", 0.9)], CTX)
    assert (result.score_fake, result.verdict, result.method) == (0.9, "fake", "maximum")
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("maximum")(type("Other", (MaximumStrategy,), {}))


# Average -----------------------------------------------------------------------------------------


def test_average_is_weighted_by_the_registry_weights():
    votes = [Vote("a", 0.9, weight=1.0), Vote("b", 0.1, weight=3.0)]
    result = get_strategy("average").run(votes, NO_BAND)
    assert result.score_fake == pytest.approx((0.9 + 0.3) / 4)
    assert result.verdict == "real"
    assert result.method == "average"


def test_average_with_equal_weights_is_the_plain_mean():
    result = get_strategy("average").run([Vote("a", 0.8), Vote("b", 0.9), Vote("c", 1.0)], CTX)
    assert result.score_fake == pytest.approx(0.9)
    assert result.verdict == "fake"
    assert result.confidence == pytest.approx(0.8)  # (0.9 - 0.5) / (1 - 0.5)


@pytest.mark.parametrize(
    ("score", "verdict"),
    [
        (0.0, "real"),
        (0.39, "real"),
        (0.4, "uncertain"),  # the band's bounds are inside it
        (0.45, "uncertain"),
        (0.5, "uncertain"),
        (0.55, "uncertain"),
        (0.6, "uncertain"),
        (0.61, "fake"),
        (1.0, "fake"),
    ],
)
def test_the_uncertainty_band_gives_uncertain(score, verdict):
    assert get_strategy("average").run([Vote("a", score)], CTX).verdict == verdict


def test_a_score_exactly_at_the_threshold_is_never_a_silent_fake():
    assert get_strategy("average").run([Vote("a", 0.5)], NO_BAND).verdict == "uncertain"
    assert get_strategy("average").run([Vote("a", 0.500001)], NO_BAND).verdict == "fake"


def test_band_bounds_are_inclusive_despite_float_error():
    ctx = FusionContext(media_type="image", threshold=0.7, uncertainty_band=0.1)
    assert get_strategy("average").run([Vote("a", 0.8)], ctx).verdict == "uncertain"
    assert get_strategy("average").run([Vote("a", 0.6)], ctx).verdict == "uncertain"
    assert get_strategy("average").run([Vote("a", 0.81)], ctx).verdict == "fake"


def test_the_threshold_moves_the_verdict():
    ctx = FusionContext(media_type="image", threshold=0.8, uncertainty_band=0.05)
    result = get_strategy("average").run([Vote("a", 0.7)], ctx)
    assert result.verdict == "real"
    assert result.confidence == pytest.approx(0.1 / 0.8)


@pytest.mark.parametrize(
    ("score", "threshold", "expected"),
    [(1.0, 0.5, 1.0), (0.0, 0.5, 1.0), (0.5, 0.5, 0.0), (0.75, 0.5, 0.5), (0.0, 0.3, 1.0), (0.65, 0.3, 0.5)],
)
def test_confidence_is_the_scaled_distance_from_the_threshold(score, threshold, expected):
    assert distance_confidence(score, threshold) == pytest.approx(expected)


# Voting ------------------------------------------------------------------------------------------


def test_voting_majority_wins_and_confidence_is_its_share():
    votes = [Vote("a", 0.9), Vote("b", 0.7), Vote("c", 0.2)]
    result = get_strategy("voting").run(votes, CTX)
    assert result.verdict == "fake"
    assert result.confidence == pytest.approx(2 / 3)
    assert result.score_fake == pytest.approx(2 / 3)
    assert result.method == "voting"


def test_a_voting_tie_is_uncertain():
    result = get_strategy("voting").run([Vote("a", 0.99), Vote("b", 0.01)], CTX)
    assert result.verdict == "uncertain"
    assert result.confidence == pytest.approx(0.5)
    assert result.score_fake == pytest.approx(0.5)


def test_a_weighted_tie_is_uncertain_and_weights_decide_otherwise():
    tie = [Vote("a", 0.9, weight=2.0), Vote("b", 0.1), Vote("c", 0.2)]
    assert get_strategy("voting").run(tie, CTX).verdict == "uncertain"
    heavy = [Vote("a", 0.9, weight=3.0), Vote("b", 0.1), Vote("c", 0.2)]
    result = get_strategy("voting").run(heavy, CTX)
    assert result.verdict == "fake"
    assert result.confidence == pytest.approx(0.6)


def test_a_probability_at_the_threshold_votes_fake():
    result = get_strategy("voting").run([Vote("a", 0.5), Vote("b", 0.5), Vote("c", 0.1)], CTX)
    assert result.verdict == "fake"


def test_voting_uses_the_request_threshold():
    ctx = FusionContext(media_type="image", threshold=0.95, uncertainty_band=0.0)
    result = get_strategy("voting").run([Vote("a", 0.9), Vote("b", 0.92), Vote("c", 0.99)], ctx)
    assert result.verdict == "real"


# No usable scores ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["average", "voting", "stacking"])
def test_no_usable_scores_means_uncertain_with_no_score(name):
    result = get_strategy(name).run([], CTX)
    assert result.verdict == "uncertain"
    assert result.score_fake is None
    assert result.confidence is None
    assert "no usable scores" in result.method


# Stacking ------------------------------------------------------------------------------------------


def test_stacking_without_a_meta_learner_averages_and_says_so(tmp_path):
    votes = [Vote("a", 0.9), Vote("b", 0.1, weight=3.0)]
    result = get_strategy("stacking").run(votes, replace(CTX, meta_learner_dir=tmp_path))
    expected = get_strategy("average").run(votes, CTX)
    assert (result.score_fake, result.verdict, result.confidence) == (
        expected.score_fake,
        expected.verdict,
        expected.confidence,
    )
    assert result.method == "average (stacking unavailable: no deployed meta-learner for image)"


def test_stacking_uses_a_deployed_meta_learner():
    class FixedLearner:
        version = "m1"

        def fuse(self, votes, ctx):
            return FusionResult(0.77, "fake", 0.5, f"stacking ({ctx.media_type} meta-learner m1)")

    strategy = StackingStrategy(provider=lambda ctx: FixedLearner() if ctx.media_type == "image" else None)
    assert strategy.run([Vote("a", 0.1)], CTX).method == "stacking (image meta-learner m1)"
    video = FusionContext(media_type="video", threshold=0.5, uncertainty_band=0.1)
    assert strategy.run([Vote("a", 0.1)], video).method.startswith("average (stacking unavailable")
