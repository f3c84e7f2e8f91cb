"""Post-hoc calibration fitted on the validation split.

* Temperature scaling (Guo et al., 2017) for multi-class logits: one scalar T, ``softmax(z / T)``.
  It never changes the arg-max, so it fixes confidence without touching accuracy.
* Platt scaling for a binary score: ``sigmoid(a * s + b)`` fitted by maximum likelihood.

Both minimise the validation negative log-likelihood with SciPy; both are two numbers to store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax

_LOG_T_BOUNDS = (np.log(0.05), np.log(50.0))


def softmax_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(labels)), np.asarray(labels, dtype=int)].mean())


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 that minimises the NLL of ``labels`` (fit on validation logits only)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if logits.ndim != 2 or len(logits) != len(labels) or len(labels) == 0:
        raise ValueError(f"need N x C logits and N labels, got {logits.shape} and {labels.shape}")
    # Search log T so the optimiser works on an unconstrained, well-scaled variable.
    result = minimize_scalar(
        lambda log_t: softmax_nll(logits, labels, float(np.exp(log_t))),
        bounds=_LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


@dataclass(frozen=True)
class PlattScaler:
    """``P(fake) = sigmoid(a * score + b)``; the identity on logits is ``a=1, b=0``."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, score: np.ndarray) -> np.ndarray:
        return expit(self.a * np.asarray(score, dtype=np.float64) + self.b)

    @classmethod
    def fit(cls, score: np.ndarray, y_fake: np.ndarray) -> PlattScaler:
        """Maximum-likelihood fit on validation scores (e.g. a classifier's decision function)."""
        s = np.asarray(score, dtype=np.float64)
        y = np.asarray(y_fake, dtype=np.float64)
        if len(np.unique(y)) < 2:
            raise ValueError("Platt scaling needs both real and fake examples")
        # Platt's smoothed targets keep a separable validation set from driving a to infinity.
        n_pos, n_neg = y.sum(), (1 - y).sum()
        t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

        def nll_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = params
            z = a * s + b
            p = expit(z)
            # log(1 + e^z) - t z, written stably.
            loss = np.mean(np.logaddexp(0.0, z) - t * z)
            g = p - t
            return float(loss), np.array([np.mean(g * s), np.mean(g)])

        result = minimize(nll_and_grad, x0=np.array([1.0, 0.0]), jac=True, method="BFGS")
        a, b = result.x
        return cls(float(a), float(b))
