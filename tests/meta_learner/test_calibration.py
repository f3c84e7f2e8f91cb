"""Calibration of the stacker's scores: none, Platt or isotonic, whichever the held-out folds prefer."""

from __future__ import annotations

import numpy as np
import pytest

from meta_learner.calibration import fit_calibrator
from meta_learner.crossval import cross_fit_calibration


def _scores(n: int, power: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(0, 2.0, n)))
    y = (rng.random(n) < p).astype(int)  # calibrated by construction: each label drawn from its score
    odds = (p / (1 - p)) ** power
    return odds / (1 + odds), y


def test_none_keeps_the_scores_as_they_are():
    scores = np.array([0.01, 0.3, 0.99])
    assert fit_calibrator("none", scores, np.array([0, 1, 1])).apply(scores) == pytest.approx(scores)


def test_scores_already_calibrated_keep_their_calibration_and_overconfident_ones_are_fixed():
    splits = [
        (np.flatnonzero(np.arange(2000) % 4 != k), np.flatnonzero(np.arange(2000) % 4 == k)) for k in range(4)
    ]
    scores, y = _scores(2000, power=1.0)
    method, calibrated, losses = cross_fit_calibration(scores, y, splits)
    assert method == "none" and calibrated == pytest.approx(scores)
    scores, y = _scores(2000, power=3.0, seed=1)
    method, _, losses = cross_fit_calibration(scores, y, splits)
    assert method != "none" and losses[method] < losses["none"]
