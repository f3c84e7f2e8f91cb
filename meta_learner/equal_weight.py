"""The equal-weight candidate of the stacked meta-learner (its own module: it imports scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from meta_learner.features import detector_columns


class EqualWeightLogit(LogisticRegression):
    """Every detector's log-odds counts the same: ``P(fake) = sigmoid(a * mean(logit columns) + b)``.

    Two parameters, so it cannot learn which collection an image came from: on the corpus,
    leave-source-out, every fitted weighting ranked images worse than plain averaging, because the
    detectors' calibration shifts between sources. The logit columns are ``features.detector_columns``'
    (those whose training values leave [0, 1]); the fitted model is an ordinary
    logistic regression over every column, with weight a/k on each of the k logit columns.
    """

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=np.float64)
        columns = np.array([logit_col for logit_col, _ in detector_columns(X)])
        super().fit(X[:, columns].mean(axis=1, keepdims=True), y, sample_weight)
        coef = np.zeros((1, X.shape[1]))
        coef[0, columns] = self.coef_[0, 0] / columns.size
        self.coef_ = coef
        self.n_features_in_ = X.shape[1]
        return self
