"""detectors.common.calibration: temperature and Platt scaling."""

import numpy as np
import pytest

from detectors.common.calibration import PlattScaler, fit_temperature, softmax, softmax_nll


def _miscalibrated(n=3000, classes=4, sharpen=4.0, seed=0):
    """Labels drawn from softmax(z); the model reports sharpen * z (overconfident by that factor)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.0, (n, classes))
    p = softmax(z)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return z * sharpen, labels


def test_temperature_scaling_reduces_nll_and_recovers_the_factor():
    logits, labels = _miscalibrated()
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(4.0, rel=0.15)
    assert softmax_nll(logits, labels, t) < softmax_nll(logits, labels) - 0.1
    # Temperature never changes which class wins.
    assert np.array_equal(softmax(logits, t).argmax(1), logits.argmax(1))


def test_temperature_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((3, 2)), np.zeros(4))


def test_platt_recovers_a_known_sigmoid_and_beats_identity():
    rng = np.random.default_rng(1)
    score = rng.normal(0, 2, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(0.5 * score - 1.0)))).astype(int)
    platt = PlattScaler.fit(score, y)
    assert platt.a == pytest.approx(0.5, abs=0.1)
    assert platt.b == pytest.approx(-1.0, abs=0.15)

    def nll(p):
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    assert nll(platt(score)) < nll(PlattScaler()(score)) - 0.05


def test_platt_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        PlattScaler.fit(np.array([0.1, 0.2]), np.array([1, 1]))
