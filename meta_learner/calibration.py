"""Calibration of the winning meta-classifier: none, Platt scaling or isotonic regression, stored as numbers.

Both are fitted on out-of-fold scores (``train.py``) and saved in the artifact's JSON, so loading
one needs no serialised object at all.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

CalibrationMethod = Literal["none", "platt", "isotonic"]
_EPS = 1e-6


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class Calibrator(BaseModel):
    """``none``: the scores as they are. ``platt``: sigmoid(a·logit(s) + b). ``isotonic``: piecewise-linear
    through (x, y), clipped at the ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: CalibrationMethod
    a: float = 1.0
    b: float = 0.0
    x: list[float] = []
    y: list[float] = []

    @model_validator(mode="after")
    def _isotonic_points(self) -> Calibrator:
        if self.method == "isotonic" and (len(self.x) < 2 or len(self.x) != len(self.y)):
            raise ValueError("isotonic calibration needs at least two (x, y) points of equal count")
        return self

    def apply(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "none":
            return scores
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(scores) + self.b)))
        return np.interp(scores, self.x, self.y)


def fit_calibrator(method: CalibrationMethod, scores: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Fit ``method`` mapping raw ``scores`` to calibrated P(fake) for 0/1 ``labels``."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if method == "none":
        return Calibrator(method="none")
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        # Weak regularisation: two parameters on hundreds of points need none, but a perfectly
        # separated fold would otherwise send them to infinity.
        model = LogisticRegression(C=100.0, max_iter=1000).fit(_logit(scores)[:, None], labels)
        return Calibrator(method="platt", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))
    from sklearn.isotonic import IsotonicRegression

    # y is kept off exact 0 and 1: an isotonic step to certainty would make one surprise cost infinite log-loss.
    iso = IsotonicRegression(y_min=0.005, y_max=0.995, out_of_bounds="clip").fit(scores, labels)
    x, y = iso.X_thresholds_, iso.y_thresholds_
    if len(x) < 2:  # every score identical: a flat line at the base rate
        x, y = np.array([0.0, 1.0]), np.repeat(y[:1] if len(y) else [labels.mean()], 2)
    return Calibrator(method="isotonic", x=[float(v) for v in x], y=[float(v) for v in y])
