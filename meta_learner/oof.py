"""A trained detector's out-of-fold answers on the imported corpus, checked before the stacker learns from them.

A detector's ``train.py`` writes, next to its weights, ``detectors/<package>/weights/oof_answers.json``
(``write_oof_answers`` in detectors/common/corpus_training.py): for every image of the imported
corpus, the calibrated answer of a model trained *without* that image's fold, i.e. without its
source. The deployed detector has seen every corpus image in training, so its live answers on them
are over-confident; a stacker fitted on those would trust it more than it deserves on new files.
``make retrain`` therefore takes these files for every detector that publishes them and asks the
live detectors only for the rest (e.g. metadata_provenance, which has no training).

A file is used only when it is the answers of exactly what is served and learnt from:

- ``format`` is ``tribunal.oof_answers/1``;
- every sha256 in ``weights_sha256`` is among the weights the running detector reports in ``/info``
  (its fingerprint; that list may also name fixed backbone files the training did not write): otherwise
  the weights changed since the answers were written (``make train-detector NAME=<name>`` writes both
  together);
- ``manifest_sha256`` equals the sha256 of the corpus manifest the stacker is trained on: otherwise the
  detector was trained on another import, whose folds and images are not these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError

from meta_learner import paths
from meta_learner.features import DetectorScore
from meta_learner.query import Fingerprint
from tribunal_sdk.errors import TribunalError
from tribunal_sdk.oof_format import OOF_ANSWERS, OOF_FORMAT

REAL = "real"


class DetectorPackage(Protocol):
    """A registry entry (``gateway.registry.DetectorEntry``) as far as its out-of-fold answers go."""

    @property
    def package(self) -> str:
        """The folder under detectors/ the launcher starts it from."""
        ...


class OofError(TribunalError, ValueError):
    """An out-of-fold answers file cannot be used; the message names the file and the fix."""

    status_code = 422
    code = "invalid_oof_answers"


class OofAnswer(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    prob_fake: float | None = Field(ge=0.0, le=1.0)  # None: the detector abstained on this image
    class_probs: dict[str, float] | None = None


class OofFile(BaseModel):
    """``oof_answers.json`` as written by ``write_oof_answers``."""

    format: str
    detector: str
    weights_sha256: list[str]
    manifest_sha256: str
    folds: int = Field(ge=2)
    answers: list[OofAnswer]


@dataclass(frozen=True)
class OofAnswers:
    """The checked answers of one detector, keyed by image sha256 (abstentions left out)."""

    detector: str
    path: Path
    file_sha256: str  # of the answers file: part of the artifact's training data hash
    folds: int
    answers: dict[str, DetectorScore]
    abstained: int
    listed: frozenset[str]  # every image sha256 the file answers for, abstentions included

    def get(self, sha256: str) -> DetectorScore | None:
        return self.answers.get(sha256)


def oof_path(entry: DetectorPackage, detectors_dir: Path = paths.DETECTORS_DIR) -> Path:
    """Where ``entry``'s train.py writes its out-of-fold answers: beside its weights, in the package folder
    the launcher starts it from (``detectors/<package>/``, the registry's ``package``)."""
    return detectors_dir / entry.package / "weights" / OOF_ANSWERS


def _short(shas: Sequence[str]) -> str:
    return "[" + ", ".join(s[:12] for s in sorted(shas)) + "]" if shas else "[] (no weight files)"


def read_oof_answers(
    path: Path, fingerprint: Fingerprint, manifest_sha256: str, package: str | None = None
) -> OofAnswers:
    """The answers in ``path`` for the detector ``fingerprint`` describes (as its /info reports it),
    checked against what it serves and the corpus manifest in use. The file may name the detector or its
    ``package``. Raises OofError naming the fix; FileNotFoundError when there is no file."""
    name = fingerprint.name
    retrain = f"make train-detector NAME={name}"
    raw = path.read_bytes()  # FileNotFoundError: the caller decides (the detector is then queried live)
    try:
        data = OofFile.model_validate_json(raw)
    except ValidationError as exc:
        raise OofError(
            f"{path}: not a readable out-of-fold answers file ({exc.error_count()} problem(s), first: "
            f"{exc.errors()[0]['msg']} at {'.'.join(str(p) for p in exc.errors()[0]['loc'])}). "
            f"Write it again: {retrain}"
        ) from None
    if data.format != OOF_FORMAT:
        raise OofError(
            f"{path}: format {data.format!r}, this meta-learner reads {OOF_FORMAT!r}. Write it again with the "
            f"current train.py: {retrain}"
        )
    if data.detector not in (name, package):
        raise OofError(f"{path}: holds the answers of {data.detector!r}, not of {name!r}. Run {retrain}")
    if not data.weights_sha256 or not set(data.weights_sha256) <= set(fingerprint.weights_sha256):
        raise OofError(
            f"{path}: these out-of-fold answers belong to weights {_short(data.weights_sha256)}, but {name} "
            f"serves {_short(fingerprint.weights_sha256)} (its /info). Its weights changed since the answers "
            f"were written: run {retrain} (it writes the weights and their out-of-fold answers together), "
            "then restart the detector; or restart it if it still serves older weights."
        )
    if data.manifest_sha256 != manifest_sha256:
        raise OofError(
            f"{path}: {name} was trained on another corpus import (its answers are for manifest sha256 "
            f"{data.manifest_sha256[:12]}, the manifest in use has {manifest_sha256[:12]}), so its folds and "
            f"images are not these. Run {retrain} on this import, or retrain the stacker with "
            "--manifest <the manifest it was trained on>."
        )
    served = set(fingerprint.classes)
    answers: dict[str, DetectorScore] = {}
    abstained = 0
    for answer in data.answers:
        if answer.prob_fake is None:
            abstained += 1
            continue
        probs = None
        if served and answer.class_probs:
            unknown = sorted(set(answer.class_probs) - served - {REAL})
            if unknown:
                raise OofError(
                    f"{path}: answers name the classes {unknown}, which {name} does not serve (its /info "
                    f"classes: {sorted(served)}). Run {retrain}"
                )
            probs = dict(answer.class_probs)
        answers[answer.sha256] = DetectorScore(answer.prob_fake, probs)
    return OofAnswers(
        detector=name,
        path=path,
        file_sha256=hashlib.sha256(raw).hexdigest(),
        folds=data.folds,
        answers=answers,
        abstained=abstained,
        listed=frozenset(a.sha256 for a in data.answers),
    )
