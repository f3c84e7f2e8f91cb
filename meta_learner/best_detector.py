"""The best-detector candidate of the stacked meta-learner (its own module: it imports scikit-learn).

Stacking does not always beat the best detector it stacks. On the corpus, leave-source-out, every
weighting of attribution_cnn with the other detectors ranked images worse than attribution_cnn alone:
the other detectors' answers are largely redundant with it and their calibration shifts between
sources, so a fitted blend learns the training folds' sources. This candidate lets the stacker say so:
it answers with the best detector's probability (kept as the detector calibrated it, or refitted: the
``refit`` parameter) and turns to the next best only on a file that detector did not answer. The candidate competes with the others on the same out-of-fold log-loss,
so it is deployed only when nothing that blends detectors does better.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from meta_learner.features import detector_columns

_EPS = 1e-12


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class BestDetectorChain(ClassifierMixin, BaseEstimator):
    """``P(fake) = sigmoid(a_d * logit_d + b_d)`` for the first detector ``d`` in ``order_`` that answered.

    Each detector's ``a_d, b_d`` is a logistic fit on the training rows it answered. Detectors are
    ranked by their training log-loss over every row, a row a detector did not answer counting at the
    training base rate, so a detector that seldom answers cannot rank first on a few easy files.
    A file no detector answered gets the base rate.
    """

    def __init__(self, refit: bool = True, C: float = 100.0):
        self.refit = refit
        self.C = C

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(int)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        self.prior_ = float(np.clip(np.average(y, weights=w), 1e-3, 1 - 1e-3))
        fits = []
        for logit_col, missing_col in detector_columns(X):
            present = X[:, missing_col] == 0.0
            if len(np.unique(y[present])) < 2:
                continue
            a, b = 1.0, 0.0  # the detector's own calibration
            if self.refit:
                model = LogisticRegression(C=self.C, max_iter=1000)
                model.fit(X[present, logit_col : logit_col + 1], y[present], sample_weight=w[present])
                a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
            p = np.full(len(y), self.prior_)
            p[present] = 1.0 / (1.0 + np.exp(-(a * X[present, logit_col] + b)))
            fits.append((_log_loss(y, p), logit_col, a, b))
        if not fits:
            raise ValueError("no detector answered training files of both classes")
        fits.sort()
        self.train_log_loss_ = np.array([f[0] for f in fits])
        self.order_ = np.array([f[1] for f in fits], dtype=np.int64)  # logit columns, best first
        self.slope_ = np.array([f[2] for f in fits])
        self.intercept_ = np.array([f[3] for f in fits])
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        z = np.full(len(X), np.log(self.prior_ / (1.0 - self.prior_)))
        decided = np.zeros(len(X), dtype=bool)
        for logit_col, a, b in zip(self.order_, self.slope_, self.intercept_, strict=True):
            use = ~decided & (X[:, logit_col + 1] == 0.0)  # its missing flag (detector_columns' layout)
            z[use] = a * X[use, logit_col] + b
            decided |= use
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])
