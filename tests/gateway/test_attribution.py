"""Fused attribution: P(real) = 1 - score_fake, generators share score_fake by the detectors' proportions."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.attribution import ClassVote, fuse_attribution


def test_one_detector_splits_the_fake_score_by_its_generator_proportions():
    result = fuse_attribution(0.8, [ClassVote("a", {"real": 0.5, "sdxl": 0.3, "flux": 0.2})])
    assert result is not None
    assert result.probs["real"] == pytest.approx(0.2)
    assert result.probs["sdxl"] == pytest.approx(0.8 * 0.6)
    assert result.probs["flux"] == pytest.approx(0.8 * 0.4)
    assert sum(result.probs.values()) == pytest.approx(1.0)
    assert result.predicted_source == "sdxl"


def test_detectors_are_averaged_by_weight():
    votes = [
        ClassVote("a", {"real": 0.0, "sdxl": 1.0}, weight=1.0),
        ClassVote("b", {"real": 0.2, "flux": 0.8}, weight=3.0),
    ]
    result = fuse_attribution(0.6, votes)
    assert result is not None
    assert result.probs["sdxl"] == pytest.approx(0.6 * 0.25)
    assert result.probs["flux"] == pytest.approx(0.6 * 0.75)
    assert result.predicted_source == "flux"


def test_a_low_fake_score_predicts_real():
    result = fuse_attribution(0.1, [ClassVote("a", {"real": 0.1, "sdxl": 0.9})])
    assert result is not None
    assert result.predicted_source == "real"
    assert result.probs["real"] == pytest.approx(0.9)


def test_a_fake_score_names_a_generator_even_when_real_is_the_largest_single_entry():
    votes = [ClassVote("a", {"real": 0.2, "flux": 0.3, "sdxl": 0.25, "gpt_image": 0.25})]
    result = fuse_attribution(0.66, votes)
    assert result is not None
    assert result.probs["real"] > max(p for name, p in result.probs.items() if name != "real")
    assert result.predicted_source == "flux"
    assert fuse_attribution(0.66, votes, threshold=0.7).predicted_source == "real"


def test_fused_attribution_always_sums_to_one():
    rng = np.random.default_rng(7)
    classes = ["real", "sdxl", "flux", "midjourney", "gpt_image"]
    for _ in range(200):
        votes = []
        for i in range(rng.integers(1, 4)):
            chosen = rng.choice(classes, size=rng.integers(2, len(classes) + 1), replace=False)
            p = rng.dirichlet(np.ones(len(chosen)))
            votes.append(
                ClassVote(
                    f"d{i}", dict(zip(chosen.tolist(), p.tolist(), strict=True)), float(rng.uniform(0.1, 3))
                )
            )
        score = float(rng.uniform())
        result = fuse_attribution(score, votes)
        assert result is not None  # every vote has at least two classes, so some generator mass
        assert sum(result.probs.values()) == pytest.approx(1.0)
        assert result.probs["real"] == pytest.approx(1 - score)
        assert all(p >= 0 for p in result.probs.values())


def test_no_class_probabilities_means_no_attribution():
    assert fuse_attribution(0.7, []) is None
    assert fuse_attribution(None, [ClassVote("a", {"real": 0.2, "sdxl": 0.8})]) is None


def test_a_detector_sure_it_is_real_has_no_say_about_the_generator():
    votes = [ClassVote("a", {"real": 1.0, "sdxl": 0.0}), ClassVote("b", {"real": 0.5, "flux": 0.5})]
    result = fuse_attribution(0.4, votes)
    assert result is not None
    assert set(result.probs) == {"real", "flux"}
    assert result.probs["flux"] == pytest.approx(0.4)
