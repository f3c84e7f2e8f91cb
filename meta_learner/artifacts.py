"""Meta-learner artifacts on disk: safe formats, atomic writes, the deployed pointer, checked loading.

Layout (DESIGN.md, "Meta-learner artifacts"):

    meta_learner/artifacts/<media_type>/
        deployed.json                 the pointer: {"version": ..., "deployed_at": ...}
        <version>/manifest.json       feature spec and order, detector versions and fingerprints,
                                      training data hash, calibration, metrics, model file + sha256
        <version>/model.skops         scikit-learn models (skops: no pickle; types allow-listed below)
        <version>/model.json          XGBoost's own JSON
        <version>/model.txt           LightGBM's own text format
        <version>/reference.json      the score reference: how each detector's and each fusion's P(fake)
                                      was distributed in training (out-of-fold), for the gateway's drift
                                      watch (gateway/drift.py); absent from artifacts older than it

A version directory is written under a temporary name and renamed into place only when complete;
the pointer is then replaced atomically (``os.replace``). A crash at any point leaves the previous
pointer and artifact untouched. Loading never unpickles: the model file must be the one its format
names, must match the sha256 in the manifest, and a skops file may hold only the allow-listed types.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from meta_learner.calibration import Calibrator
from meta_learner.classifiers import ModelFormat
from meta_learner.features import FeatureSpec, Observation, encode, logit
from tribunal_sdk.errors import TribunalError
from tribunal_sdk.media import file_sha256

POINTER_FILE = "deployed.json"
MANIFEST_FILE = "manifest.json"
REFERENCE_FILE = "reference.json"
# A score reference counts P(fake) in this many equal-width bins of [0, 1]: fine enough to merge into the
# drift statistic's quantile bins (and to draw), small enough to commit with every artifact.
REFERENCE_BINS = 100
MODEL_FILES: dict[str, str] = {"skops": "model.skops", "xgboost": "model.json", "lightgbm": "model.txt"}
_TMP_PREFIX = ".tmp-"
# A temporary directory this old was left by a crashed writer; the next save removes it.
_STALE_TMP_S = 3600

# The only non-default types a skops model file may contain: the fitted internals of the registered
# scikit-learn candidates (classifiers.py). skops already trusts plain estimators, numpy and builtins.
TRUSTED_SKOPS_TYPES: tuple[str, ...] = (
    "meta_learner.equal_weight.EqualWeightLogit",  # our own LogisticRegression subclass, no extra state
    "meta_learner.best_detector.BestDetectorChain",  # our own estimator: numpy arrays and floats only
    "sklearn.tree._tree.Tree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)


class ArtifactError(TribunalError, RuntimeError):
    """An artifact cannot be written or loaded; the message names the directory and the problem."""

    code = "invalid_artifact"


class UnsafeArtifact(ArtifactError):
    """The model file is not in a safe format or holds types outside the allow-list: refused, not loaded."""

    code = "unsafe_artifact"


class FeatureMismatch(ArtifactError):
    """The artifact's detectors are not the registry's enabled detectors for its media type."""

    code = "artifact_feature_mismatch"


class ArtifactManifest(BaseModel):
    """manifest.json: everything needed to rebuild the features and trust the model file."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int = 1
    version: str
    media_type: str
    created_at: datetime
    classifier: str
    params: dict[str, Any]
    model_format: ModelFormat
    model_file: str
    model_sha256: str
    features: list[str]
    spec: FeatureSpec
    detector_versions: dict[str, str | None] = Field(description="version each detector had in training")
    detector_fingerprints: dict[str, str | None]
    calibrator: Calibrator
    independent_evidence: list[str] = Field(
        default_factory=list,
        description="detectors that answered no training file, so the model has no weight for them: when one "
        "answers, its log-odds are added to the calibrated score (see LoadedArtifact.predict)",
    )
    training_data_hash: str
    metrics: dict[str, Any]
    config: dict[str, Any]


class DeployedPointer(BaseModel):
    """deployed.json."""

    version: str
    deployed_at: datetime


def score_bin(prob_fake: float, bins: int = REFERENCE_BINS) -> int:
    """The equal-width bin of [0, 1] that ``prob_fake`` falls in (1.0 in the last one)."""
    return min(max(int(prob_fake * bins), 0), bins - 1)


class ScoreHistogram(BaseModel):
    """How one score stream (a detector's or a fusion's P(fake)) was distributed in training."""

    model_config = ConfigDict(extra="forbid")

    counts: list[int] = Field(description="scores per equal-width bin of [0, 1]")
    abstained: int = Field(0, ge=0, description="images it gave no score for")

    @classmethod
    def of(cls, scores: Iterable[float | None], bins: int = REFERENCE_BINS) -> ScoreHistogram:
        """The histogram of ``scores``; a None is an image without a score (counted in ``abstained``)."""
        counts = [0] * bins
        abstained = 0
        for score in scores:
            if score is None or score != score:  # None or NaN
                abstained += 1
            else:
                counts[score_bin(float(score), bins)] += 1
        return cls(counts=counts, abstained=abstained)

    @property
    def size(self) -> int:
        return sum(self.counts)


class ScoreReference(BaseModel):
    """reference.json: the training distribution of every detector's and every fusion's P(fake).

    Written by ``make retrain`` from the same out-of-fold answers the stacker learnt from; the gateway
    compares a window of live answers with it (gateway/drift.py).
    """

    model_config = ConfigDict(extra="forbid")

    format_version: int = 1
    source: str = Field(description="what the scores are, e.g. out-of-fold answers on which corpus")
    bins: int = Field(REFERENCE_BINS, ge=2)
    detectors: dict[str, ScoreHistogram] = Field(default_factory=dict)
    fused: dict[str, ScoreHistogram] = Field(
        default_factory=dict, description="by fusion method: average, voting, stacking"
    )

    @model_validator(mode="after")
    def _bins_match(self) -> ScoreReference:
        for name, histogram in [*self.detectors.items(), *self.fused.items()]:
            if len(histogram.counts) != self.bins or min(histogram.counts, default=0) < 0:
                raise ValueError(f"{name}: expected {self.bins} non-negative bin counts")
        return self


def reference_from_rows(
    source: str,
    detectors: Sequence[str],
    observations: Sequence[Observation],
    fused: Mapping[str, Sequence[float]],
) -> ScoreReference:
    """A reference from training rows: each detector's P(fake) per row (a row without its answer counts as
    abstained) and each fusion's score per row. Rows no detector answered are left out of the fusions,
    as the gateway gives no fused score for them."""
    answered = [bool(row) for row in observations]
    return ScoreReference(
        source=source,
        detectors={
            name: ScoreHistogram.of(row[name].prob_fake if name in row else None for row in observations)
            for name in detectors
        },
        fused={
            method: ScoreHistogram.of(s for s, kept in zip(scores, answered, strict=True) if kept)
            for method, scores in fused.items()
        },
    )


class Scorer(Protocol):
    def predict_fake(self, x: np.ndarray) -> np.ndarray: ...


class _ProbaScorer:
    def __init__(self, model: Any):
        self.model = model

    def predict_fake(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(x))[:, 1]


class _BoosterScorer:
    """A LightGBM Booster with a binary objective predicts P(class 1) directly."""

    def __init__(self, booster: Any):
        self.booster = booster

    def predict_fake(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x))


class LoadedArtifact:
    """A deployed meta-learner ready to score: features in its order, model, calibration."""

    def __init__(self, manifest: ArtifactManifest, scorer: Scorer, path: Path):
        self.manifest = manifest
        self.scorer = scorer
        self.path = path

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def spec(self) -> FeatureSpec:
        return self.manifest.spec

    def predict(self, observations: Sequence[Observation]) -> np.ndarray:
        """Calibrated P(fake) per observation (a detector absent from one is missing there).

        A detector in ``independent_evidence`` never answered a training file (the metadata detector on
        the metadata-stripped corpus), so the model learnt nothing about it and ignores it. Its answer is
        evidence all the same (a generator's C2PA manifest or parameters chunk): when it answers, its
        log-odds are added to the calibrated score's, as an independent likelihood ratio around an even
        prior, which is how that detector's own scores are built.
        """
        scores = self.manifest.calibrator.apply(self.scorer.predict_fake(encode(self.spec, observations)))
        if not self.manifest.independent_evidence:
            return scores
        log_odds = np.array([logit(float(p)) for p in scores])
        for i, observation in enumerate(observations):
            for name in self.manifest.independent_evidence:
                answer = observation.get(name)
                if answer is not None:
                    log_odds[i] += logit(answer.prob_fake)
        return 1.0 / (1.0 + np.exp(-log_odds))

    def check_detectors(self, registry_detectors: Sequence[str]) -> None:
        """FeatureMismatch unless the artifact's detectors are exactly ``registry_detectors`` (any order)."""
        check_detectors(self.manifest, registry_detectors)

    def version_warnings(self, versions: Mapping[str, str | None]) -> list[str]:
        """One note per detector that answered with a version other than the one trained on."""
        notes = []
        for name, version in versions.items():
            trained = self.manifest.detector_versions.get(name)
            if version is not None and trained is not None and version != trained:
                notes.append(
                    f"{name} answered as version {version} but meta-learner {self.manifest.media_type}/"
                    f"{self.version} was trained on {trained}; retrain it (make retrain MEDIA_TYPE="
                    f"{self.manifest.media_type})"
                )
        return notes


def check_detectors(manifest: ArtifactManifest, registry_detectors: Sequence[str]) -> None:
    trained, registered = set(manifest.spec.detectors), set(registry_detectors)
    if trained == registered:
        return
    parts = []
    if registered - trained:
        parts.append(f"the registry has {sorted(registered - trained)} that it was not trained on")
    if trained - registered:
        parts.append(f"it needs {sorted(trained - registered)} that the registry does not enable")
    raise FeatureMismatch(
        f"meta-learner {manifest.media_type}/{manifest.version} does not match the registry: "
        + "; ".join(parts)
        + f". Retrain it: make retrain MEDIA_TYPE={manifest.media_type}"
    )


# Writing -------------------------------------------------------------------------------------------


def new_version(now: datetime | None = None) -> str:
    """A sortable version name from the UTC time, e.g. 20261122-031245."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def _write_model(model: Any, model_format: str, path: Path) -> None:
    if model_format == "skops":
        import skops.io as sio

        sio.dump(model, path)
    elif model_format == "xgboost":
        model.save_model(str(path))
    elif model_format == "lightgbm":
        model.booster_.save_model(str(path))
    else:
        raise ArtifactError(f"unknown model format {model_format!r}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_tmp(media_dir: Path) -> None:
    for leftover in media_dir.glob(f"{_TMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(leftover)


def save_artifact(
    root: Path, manifest: ArtifactManifest, model: Any, reference: ScoreReference | None = None
) -> Path:
    """Write ``model``, ``manifest`` and the score ``reference`` (when given) as
    ``root/<media_type>/<version>/``, all or nothing.

    ``manifest.model_file`` and ``model_sha256`` are filled in here. Raises ArtifactError if the
    version exists already.
    """
    media_dir = root / manifest.media_type
    final = media_dir / manifest.version
    if final.exists():
        raise ArtifactError(f"{final} already exists; artifact versions are never overwritten")
    media_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(media_dir)
    tmp = media_dir / f"{_TMP_PREFIX}{manifest.version}-{os.getpid()}"
    tmp.mkdir()
    try:
        model_file = MODEL_FILES[manifest.model_format]
        _write_model(model, manifest.model_format, tmp / model_file)
        complete = manifest.model_copy(
            update={"model_file": model_file, "model_sha256": file_sha256(tmp / model_file)}
        )
        (tmp / MANIFEST_FILE).write_text(complete.model_dump_json(indent=2) + "\n")
        written = [tmp / model_file, tmp / MANIFEST_FILE]
        if reference is not None:
            (tmp / REFERENCE_FILE).write_text(reference.model_dump_json() + "\n")
            written.append(tmp / REFERENCE_FILE)
        for path in (*written, tmp):
            _fsync(path)
        os.rename(tmp, final)  # atomic on one filesystem: the version appears whole or not at all
        _fsync(media_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def deploy(root: Path, media_type: str, version: str) -> DeployedPointer:
    """Point ``root/<media_type>/deployed.json`` at ``version`` (which must load), atomically."""
    load_artifact(root, media_type, version)  # never point at something the gateway would refuse
    media_dir = root / media_type
    pointer = DeployedPointer(version=version, deployed_at=datetime.now(UTC))
    tmp = media_dir / f"{POINTER_FILE}{_TMP_PREFIX}{os.getpid()}"
    tmp.write_text(pointer.model_dump_json(indent=2) + "\n")
    _fsync(tmp)
    os.replace(tmp, media_dir / POINTER_FILE)
    _fsync(media_dir)
    return pointer


# Reading -------------------------------------------------------------------------------------------


def pointer_path(root: Path, media_type: str) -> Path:
    return root / media_type / POINTER_FILE


def deployed_version(root: Path, media_type: str) -> str | None:
    """The version the pointer names, or None when nothing is deployed for ``media_type``."""
    path = pointer_path(root, media_type)
    try:
        return DeployedPointer.model_validate_json(path.read_text()).version
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a valid pointer file: {exc}") from exc


def read_manifest(directory: Path) -> ArtifactManifest:
    path = directory / MANIFEST_FILE
    try:
        return ArtifactManifest.model_validate_json(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"{directory}: no {MANIFEST_FILE} (not an artifact, or an incomplete one)"
        ) from exc
    except ValidationError as exc:
        raise ArtifactError(f"{path}: invalid manifest: {exc}") from exc


def _version_dir(root: Path, media_type: str, version: str) -> Path:
    if version.startswith(".") or "/" in version or "\\" in version:
        raise ArtifactError(f"invalid artifact version {version!r}")
    return root / media_type / version


def load_reference(root: Path, media_type: str, version: str) -> ScoreReference | None:
    """The score reference stored with one artifact, or None when it has none (older artifacts).
    Raises ArtifactError when the file is there but unreadable."""
    path = _version_dir(root, media_type, version) / REFERENCE_FILE
    try:
        return ScoreReference.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a valid score reference: {exc}") from exc


def load_artifact(root: Path, media_type: str, version: str) -> LoadedArtifact:
    """Load and check one artifact. Raises ArtifactError (UnsafeArtifact for anything unsafe)."""
    directory = _version_dir(root, media_type, version)
    manifest = read_manifest(directory)
    if manifest.media_type != media_type or manifest.version != version:
        raise ArtifactError(
            f"{directory}: manifest says {manifest.media_type}/{manifest.version}, expected {media_type}/{version}"
        )
    if manifest.features != manifest.spec.names:
        raise ArtifactError(f"{directory}: the manifest's feature list does not match its feature spec")
    expected_file = MODEL_FILES[manifest.model_format]
    if manifest.model_file != expected_file:
        raise UnsafeArtifact(
            f"{directory}: model file {manifest.model_file!r} is not the {manifest.model_format} file "
            f"{expected_file!r}; only skops, XGBoost JSON and LightGBM text models are ever loaded"
        )
    model_path = directory / expected_file
    if not model_path.is_file():
        raise ArtifactError(f"{model_path}: model file missing")
    actual = file_sha256(model_path)
    if actual != manifest.model_sha256:
        raise UnsafeArtifact(
            f"{model_path}: sha256 {actual} does not match the manifest's {manifest.model_sha256}"
        )
    return LoadedArtifact(manifest, _load_model(model_path, manifest.model_format), directory)


def load_deployed(root: Path, media_type: str) -> LoadedArtifact | None:
    """The deployed artifact for ``media_type``, or None when there is no pointer."""
    version = deployed_version(root, media_type)
    return None if version is None else load_artifact(root, media_type, version)


def _load_model(path: Path, model_format: str) -> Scorer:
    try:
        if model_format == "skops":
            return _ProbaScorer(load_skops(path))
        if model_format == "xgboost":
            from xgboost import XGBClassifier

            model = XGBClassifier()
            model.load_model(str(path))
            return _ProbaScorer(model)
        if model_format == "lightgbm":
            import lightgbm

            return _BoosterScorer(lightgbm.Booster(model_file=str(path)))
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"{path}: cannot load the {model_format} model: {type(exc).__name__}: {exc}"
        ) from exc
    raise ArtifactError(f"{path}: unknown model format {model_format!r}")


def load_skops(path: Path) -> Any:
    """A skops file whose every non-default type is in TRUSTED_SKOPS_TYPES; UnsafeArtifact otherwise."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise UnsafeArtifact(f"{path}: not a readable skops file: {type(exc).__name__}: {exc}") from exc
    refused = sorted(t for t in untrusted if t not in TRUSTED_SKOPS_TYPES)
    if refused:
        raise UnsafeArtifact(f"{path}: refusing to load types outside the allow-list: {', '.join(refused)}")
    return sio.load(path, trusted=list(untrusted))


def list_versions(root: Path, media_type: str) -> list[str]:
    """Complete artifact versions for ``media_type``, oldest first (temporary directories excluded)."""
    media_dir = root / media_type
    if not media_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in media_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_FILE).is_file()
    )
