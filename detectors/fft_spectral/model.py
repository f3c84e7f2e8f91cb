"""The spectral classifier bundle and its safe storage (skops, with an explicit type allow-list).

A bundle holds: the side of the crops it was trained on, which feature groups it reads, a binary
real-vs-AI classifier with its Platt scaler (fitted on out-of-fold scores), a family classifier
trained on AI images only (the "family hint"), and the mean/std of real images' Durall profiles (what
``explain`` compares an image against). An image is scored from one or more crops: the classifier's
log-odds are averaged over its crops before Platt scaling, the family probabilities are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from detectors.common.calibration import PlattScaler
from detectors.fft_spectral.spectral import N_FEATURES, group_columns
from tribunal_sdk.errors import WeightsUnavailable

# Version 2 added ``crop_side``; a version 1 bundle (one 256 px centre crop) is retrained, not read.
FORMAT = "tribunal.fft_spectral/2"
# Types beyond skops' default-trusted set that a bundle may contain. Anything else in a file is
# refused before it is deserialised.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


_KEYS = {
    "groups",
    "binary",
    "platt",
    "family",
    "families",
    "real_profile_mean",
    "real_profile_std",
    "kind",
    "crop_side",
}


class BundleError(WeightsUnavailable, ValueError):
    """Not a loadable fft_spectral bundle (wrong format, unexpected types or contents)."""


def log_odds(classifier: Any, x: np.ndarray) -> np.ndarray:
    """A fitted binary classifier's log-odds of fake (from clipped ``predict_proba``)."""
    p = np.clip(classifier.predict_proba(x)[:, 1], 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def mean_per_group(values: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Means of consecutive runs of ``values`` (rows) of the given lengths: one per image."""
    ends = np.cumsum(counts)
    return np.stack([values[end - n : end].mean(axis=0) for n, end in zip(counts, ends, strict=True)])


@dataclass
class SpectralModel:
    groups: tuple[str, ...]
    binary: Any  # scikit-learn classifier with predict_proba over (real=0, fake=1)
    platt: PlattScaler
    family: Any | None  # classifier over ``families`` (AI images only)
    families: list[str]
    real_profile_mean: np.ndarray
    real_profile_std: np.ndarray
    kind: str  # logistic | boosting
    crop_side: int  # side (native px) of the crops trained on and analysed

    def columns(self, features: np.ndarray) -> np.ndarray:
        features = np.atleast_2d(features)
        if features.shape[1] != N_FEATURES:
            raise ValueError(f"expected {N_FEATURES} features, got {features.shape[1]}")
        return features[:, group_columns(self.groups)]

    def raw_score(self, features: np.ndarray) -> np.ndarray:
        """The classifier's uncalibrated log-odds of fake, one per feature row (crop)."""
        return log_odds(self.binary, self.columns(features))

    def prob_fake(self, features: np.ndarray) -> np.ndarray:
        return self.platt(self.raw_score(features))

    def family_probs(self, features: np.ndarray) -> np.ndarray | None:
        if self.family is None:
            return None
        return self.family.predict_proba(self.columns(features))

    def prob_fake_of_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """P(fake) per image from its crops' feature rows: mean log-odds, then Platt."""
        counts = [len(c) for c in crops]
        return self.platt(mean_per_group(self.raw_score(np.concatenate(crops)), counts))

    def family_probs_of_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray | None:
        """The family hint per image: its crops' family probabilities, averaged."""
        probs = self.family_probs(np.concatenate(crops))
        return None if probs is None else mean_per_group(probs, [len(c) for c in crops])


def save_bundle(model: SpectralModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(
        {
            "format": FORMAT,
            "groups": list(model.groups),
            "binary": model.binary,
            "platt": [model.platt.a, model.platt.b],
            "family": model.family,
            "families": list(model.families),
            "real_profile_mean": np.asarray(model.real_profile_mean, dtype=np.float64),
            "real_profile_std": np.asarray(model.real_profile_std, dtype=np.float64),
            "kind": model.kind,
            "crop_side": int(model.crop_side),
        },
        path,
    )


def load_bundle(path: Path) -> SpectralModel:
    """Load a bundle, refusing any type outside skops' defaults and ``TRUSTED_TYPES``."""
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a file skops cannot even parse
        raise BundleError(f"{path.name} is not a skops file: {exc}") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise BundleError(f"{path.name} holds types that are not allowed: {unexpected}")
    raw = sio.load(path, trusted=untrusted)
    if not isinstance(raw, dict) or not str(raw.get("format", "")).startswith("tribunal.fft_spectral/"):
        raise BundleError(f"{path.name} is not an fft_spectral bundle")
    if raw["format"] != FORMAT:
        raise BundleError(f"{path.name} is a {raw['format']} bundle, this service reads {FORMAT}")
    missing = sorted(_KEYS - set(raw))
    if missing:
        raise BundleError(f"{path.name} lacks {missing}")
    return SpectralModel(
        groups=tuple(raw["groups"]),
        binary=raw["binary"],
        platt=PlattScaler(*raw["platt"]),
        family=raw["family"],
        families=list(raw["families"]),
        real_profile_mean=np.asarray(raw["real_profile_mean"]),
        real_profile_std=np.asarray(raw["real_profile_std"]),
        kind=raw["kind"],
        crop_side=int(raw["crop_side"]),
    )
