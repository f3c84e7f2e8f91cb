"""The linear head on cached features: class-weighted, L2-regularised multinomial logistic regression,
and the temperature that calibrates its P(fake).

Two class weightings: ``balanced`` (scikit-learn's: every class the same total weight, so ``real`` gets
1/8 of it) and ``real_half`` (``real`` half the total weight, the generator classes sharing the other
half equally): the second keeps the real-vs-AI prior near the corpus's while still balancing the
generators against each other. Solved full-batch with SciPy's L-BFGS in float64 (deterministic; seconds on ~1,600 x 2,064 features),
on features standardised with the training rows' statistics. The L2 strength is given as scikit-learn's
``C`` (``LogisticRegression(C=..., class_weight="balanced")`` minimises the same objective), so the
grid reads like the lead's probe: the per-row penalty is ``1 / (C * sum of sample weights)``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax
from threadpoolctl import threadpool_limits

from detectors.attribution_cnn.model import AttributionHead
from detectors.common.corpus_training import subset_balance

WEIGHTINGS = ("balanced", "real_half")


def class_weights(
    labels: np.ndarray, n_classes: int, weighting: str = "balanced", real: int = 0
) -> np.ndarray:
    """Weight of each class's rows (0 for a class absent from ``labels``); the weights sum to ``len(labels)``.

    ``balanced``: ``n / (k * count)`` (scikit-learn's). ``real_half``: class ``real`` carries half the
    total, the other classes present share the other half equally.
    """
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    n = len(labels)
    if weighting == "balanced":
        share = np.where(present, n / max(1, int(present.sum())), 0.0)
    elif weighting == "real_half":
        others = present.copy()
        others[real] = False
        if not present[real] or not others.any():  # one side missing: plain balance
            return class_weights(labels, n_classes, "balanced", real)
        share = np.where(others, (n / 2) / int(others.sum()), 0.0)
        share[real] = n / 2
    else:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return np.where(present, share / np.maximum(counts, 1), 0.0)


def fit_linear_head(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    c: float = 0.01,
    weighting: str = "balanced",
    max_iter: int = 1000,
    subsets: np.ndarray | None = None,
    real: int = 0,
) -> AttributionHead:
    """A linear ``AttributionHead`` (its standardisation buffers set) fitted on ``features``; with
    ``subsets`` (one per row), real and AI rows weigh the same within each subset (``subset_balance``)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0, ddof=1) if len(x) > 1 else np.ones(x.shape[1]), 1e-4)
    z = (x - mean) / std
    sample_weight = subset_balance(class_weights(y, n_classes, weighting, real)[y], y != real, subsets)
    total = sample_weight.sum()
    l2 = 1.0 / (c * total)
    onehot = np.eye(n_classes)[y]
    d = x.shape[1]

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        weight, bias = params[: n_classes * d].reshape(n_classes, d), params[n_classes * d :]
        logits = z @ weight.T + bias
        logp = log_softmax(logits, axis=1)
        loss = -(sample_weight * (onehot * logp).sum(axis=1)).sum() / total + 0.5 * l2 * (weight**2).sum()
        delta = (np.exp(logp) - onehot) * (sample_weight / total)[:, None]
        grad_w = delta.T @ z + l2 * weight
        return float(loss), np.concatenate([grad_w.ravel(), delta.sum(axis=0)])

    # SciPy's L-BFGS on one BLAS thread: each step is a few small matrix products, and on a busy
    # machine multi-threaded BLAS (or torch's per-op threading) made them ten times slower.
    with threadpool_limits(1):
        result = minimize(
            loss_and_grad,
            np.zeros(n_classes * (d + 1)),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": 1e-7, "ftol": 1e-12},
        )
    weight, bias = result.x[: n_classes * d].reshape(n_classes, d), result.x[n_classes * d :]
    head = AttributionHead(d, n_classes, "linear")
    linear = head.net[-1]
    with torch.no_grad():
        head.feature_mean.copy_(torch.from_numpy(mean).float())
        head.feature_std.copy_(torch.from_numpy(std).float())
        linear.weight.copy_(torch.from_numpy(weight).float())
        linear.bias.copy_(torch.from_numpy(bias).float())
    return head.eval()


@torch.inference_mode()
def head_logits(head: AttributionHead, features: np.ndarray) -> np.ndarray:
    return head(torch.from_numpy(np.asarray(features, dtype=np.float32))).double().numpy()


def fit_fake_temperature(logits: np.ndarray, y_fake: np.ndarray, real: int = 0) -> float:
    """The temperature T minimising the binary log-loss of ``P(fake) = 1 - softmax(logits / T)[real]``.

    An 8-class temperature (``calibration.fit_temperature``) softens towards a uniform spread over the
    classes, which hands the seven generator classes 7/8 of the mass and pushes P(fake) up on real
    images; fitted on the answer the service and the stacker actually use, the same one parameter keeps
    P(fake) calibrated. Arg-maxes, and so attribution, are unchanged either way.
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_fake, dtype=np.float64)

    def loss(log_t: float) -> float:
        p_real = np.exp(log_softmax(logits / np.exp(log_t), axis=1)[:, real])
        p_fake = np.clip(1.0 - p_real, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p_fake) + (1 - y) * np.log(1 - p_fake)))

    result = minimize_scalar(
        loss, bounds=(np.log(0.05), np.log(50.0)), method="bounded", options={"xatol": 1e-4}
    )
    return float(np.exp(result.x))
