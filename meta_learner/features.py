"""The feature matrix of the stacked model, built the same way at training and at request time.

Per detector, in the spec's fixed order:

- ``<name>.logit``     logit of its ``prob_fake`` (clipped to [1e-4, 1 - 1e-4]); 0 when missing
- ``<name>.missing``   1 when the detector gave no score (abstained, failed, not asked), else 0
- ``<name>.p[<cls>]``  attribution detectors only: its probability for each generator class; 0 when
                       missing. ``real`` is left out: it is 1 - prob_fake, already in the logit.

A missing detector is a fixed fill value plus its indicator, never a guess of its score: the model
is trained with detectors randomly dropped (``train.dropout``) so it learns what missing means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Keeps logits finite: a detector saying exactly 0 or 1 becomes ±9.2, not ±inf.
_PROB_CLIP = 1e-4


@dataclass(frozen=True)
class DetectorScore:
    """What the stacker reads of one detector's answer to one file: its P(fake) and class probabilities
    (abstentions and failures are simply absent)."""

    prob_fake: float
    class_probs: Mapping[str, float] | None = None


# One file's answers, keyed by detector name; a detector with no usable answer has no key.
Observation = Mapping[str, DetectorScore]


class FeatureSpec(BaseModel):
    """Which detectors (in order) and which of their attribution classes make up the features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    media_type: str
    detectors: list[str] = Field(min_length=1)
    classes: dict[str, list[str]] = Field(
        default_factory=dict, description="attribution detector -> the classes used as features"
    )

    @model_validator(mode="after")
    def _classes_of_known_detectors(self) -> FeatureSpec:
        unknown = sorted(set(self.classes) - set(self.detectors))
        if unknown:
            raise ValueError(f"classes given for detectors not in the feature list: {unknown}")
        if len(set(self.detectors)) != len(self.detectors):
            raise ValueError(f"a detector is listed twice: {self.detectors}")
        return self

    @property
    def names(self) -> list[str]:
        """Column names, in matrix order."""
        names = []
        for detector in self.detectors:
            names += [f"{detector}.logit", f"{detector}.missing"]
            names += [f"{detector}.p[{cls}]" for cls in self.classes.get(detector, [])]
        return names


def attribution_classes(info: Mapping[str, object] | None) -> list[str]:
    """The feature classes of a detector from its /info: its classes minus ``real``; none if binary."""
    if not info or info.get("task") != "attribution":
        return []
    classes = info.get("classes") or []
    return [str(c) for c in classes if c != "real"]  # type: ignore[union-attr]


def never_answered(spec: FeatureSpec, observations: Sequence[Observation]) -> list[str]:
    """The spec's detectors that answered none of ``observations`` (in spec order)."""
    answered = {name for observation in observations for name in observation}
    return [name for name in spec.detectors if name not in answered]


def detector_columns(X: np.ndarray) -> list[tuple[int, int]]:
    """(logit column, missing column) of every detector that answered in a feature matrix ``X``.

    For candidates that see only the matrix (equal_weight, best_detector). In ``encode``'s layout a
    detector's ``.logit`` column is followed by its ``.missing`` flag; a logit column is one whose values
    leave [0, 1] (missing flags and class probabilities never do), so a detector that answered no row of
    ``X`` has no column here.
    """
    columns = []
    for j in np.flatnonzero(((X < 0.0) | (X > 1.0)).any(axis=0)):
        flag = X[:, j + 1] if j + 1 < X.shape[1] else None
        if flag is None or not np.isin(flag, (0.0, 1.0)).all():
            raise ValueError(f"feature column {j} holds log-odds but column {j + 1} is not its missing flag")
        columns.append((int(j), int(j + 1)))
    if not columns:
        raise ValueError("no detector log-odds column among the features (all values inside [0, 1])")
    return columns


def logit(prob: float) -> float:
    p = min(max(prob, _PROB_CLIP), 1.0 - _PROB_CLIP)
    return math.log(p / (1.0 - p))


def encode(spec: FeatureSpec, observations: Sequence[Observation]) -> np.ndarray:
    """The (n_files, n_features) matrix of ``observations`` in ``spec``'s column order."""
    width = len(spec.names)
    matrix = np.zeros((len(observations), width), dtype=np.float64)
    for row, observation in enumerate(observations):
        column = 0
        for detector in spec.detectors:
            classes = spec.classes.get(detector, [])
            answer = observation.get(detector)
            if answer is None:
                matrix[row, column + 1] = 1.0
            else:
                matrix[row, column] = logit(answer.prob_fake)
                probs = answer.class_probs or {}
                for offset, cls in enumerate(classes):
                    matrix[row, column + 2 + offset] = float(probs.get(cls, 0.0))
            column += 2 + len(classes)
    return matrix
