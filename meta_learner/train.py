"""Training of the stacked model on the patch benchmark's splits: dropout augmentation, selection,
calibration, the final fit, the test report. (On an imported corpus there are no splits: crossval.py
cross-validates leave-source-out over the manifest's folds, reusing the pieces here.)

Which rows it learns from: the detectors were trained on the benchmark's ``train`` split, so their
scores there are over-confident (the report shows each detector's log-loss per split). A stacker
fitted on those scores learns to trust the detectors more than it should on new files, so by default
it is fitted on ``val`` only, the split the detectors never learned from, and ``test`` is kept for
the final comparison. ``fit_splits`` changes that (e.g. for detectors trained elsewhere).

The steps, all seeded:

1. Folds: stratified K-fold over the fit rows, grouped by scene group so near-duplicates never sit
   on both sides.
2. Every candidate (classifiers.py) with every grid point, or ``trials`` Optuna trials, is fitted on
   the dropout-augmented training folds and scored on the clean held-out fold; selection is by the
   out-of-fold log-loss (ROC-AUC reported too).
3. The winner's out-of-fold scores fit the calibration: Platt or isotonic, whichever has the lower
   log-loss in an inner cross-validation.
4. The winner is refitted on all fit rows (augmented) and, calibrated, scored on ``test`` beside
   every other candidate, voting, averaging and each detector alone.

Dropout augmentation: next to each original row, ``dropout_copies`` copies in which every present
detector is dropped (made missing) with probability ``dropout_rate``, keeping at least one. The model
so sees every pattern of missing detectors it can meet at request time, with the right labels.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field
from tqdm import tqdm

from meta_learner import baselines
from meta_learner.calibration import CalibrationMethod, Calibrator, fit_calibrator
from meta_learner.classifiers import ClassifierSpec, Params, classifier_names, get_classifier
from meta_learner.features import FeatureSpec, Observation, encode
from meta_learner.metrics import Metrics, evaluate, log_loss, roc_auc
from tribunal_sdk.errors import TribunalError

log = logging.getLogger("meta_learner.train")


class TrainingError(TribunalError, RuntimeError):
    """Training cannot go on (too few rows or groups, every candidate failed); says what to change."""

    status_code = 422
    code = "cannot_train"


class TrainConfig(BaseModel):
    """The knobs of one training run (``make retrain`` passes OPTIMIZER and TRIALS through).

    On an imported corpus (crossval.py) the folds are the manifest's, so ``fit_splits`` and ``folds``
    do not apply there; ``prefer_simple`` applies only there.
    """

    fit_splits: list[Literal["train", "val"]] = ["val"]
    classifiers: list[str] = Field(default_factory=classifier_names)
    optimizer: Literal["grid", "optuna"] = "grid"
    trials: int = Field(20, ge=1)
    folds: int = Field(5, ge=2)
    dropout_copies: int = Field(2, ge=0)
    dropout_rate: float = Field(0.3, ge=0.0, lt=1.0)
    seed: int = 0
    # Deploy the simplest candidate within one standard error of the best (imported corpus only).
    prefer_simple: bool = True


@dataclass
class TrainingData:
    """One row per benchmark file: its detectors' answers, label, split, scene group and source."""

    spec: FeatureSpec
    observations: list[Observation]
    labels: np.ndarray  # 0 real, 1 fake
    splits: np.ndarray
    groups: np.ndarray
    sources: np.ndarray
    weights: dict[str, float] = field(default_factory=dict)  # registry weights, for the fusion baselines

    def rows(self, splits: Sequence[str]) -> np.ndarray:
        return np.flatnonzero(np.isin(self.splits, list(splits)))


class CandidateResult(BaseModel):
    """One classifier after selection: its best parameters and figures."""

    name: str
    params: Params = {}
    cv_log_loss: float | None = None
    cv_roc_auc: float | None = None
    tried: int = 0
    test: Metrics | None = None  # fitted on all fit rows, uncalibrated
    error: str | None = None
    seconds: float = 0.0


class BaselineResult(BaseModel):
    name: str
    test: Metrics
    coverage: float = 1.0  # share of test rows with a usable score


class MissingDetectorResult(BaseModel):
    """Test log-loss when one detector is taken away from every row."""

    detector: str
    stacking_log_loss: float
    average_log_loss: float


class TrainResult(BaseModel):
    """Everything a run found; the report and the artifact are written from it."""

    config: TrainConfig
    spec: FeatureSpec
    rows: dict[str, int]  # per split
    winner: str
    params: Params
    calibrator: Calibrator
    calibration_cv_log_loss: dict[str, float]
    candidates: list[CandidateResult]
    stacking_test: Metrics
    stacking_val_cv_log_loss: float
    baselines: list[BaselineResult]
    missing_detector: list[MissingDetectorResult]
    detector_log_loss_by_split: dict[str, dict[str, float]]
    seconds: float
    model: Any = Field(default=None, exclude=True)  # the fitted winner (before calibration)
    # Per test row: the label and every method's P(fake), for paired comparisons in the report.
    test_labels: list[int] = Field(default_factory=list, exclude=True)
    test_scores: dict[str, list[float]] = Field(default_factory=dict, exclude=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) of encoded rows."""
        return self.calibrator.apply(self.model.predict_proba(x)[:, 1])


# Augmentation and folds ------------------------------------------------------------------------------


def dropout_augment(
    observations: Sequence[Observation], copies: int, rate: float, rng: np.random.Generator
) -> tuple[list[Observation], np.ndarray]:
    """The originals followed by ``copies`` dropped-out copies of each; returns them and each one's source row."""
    out: list[Observation] = list(observations)
    origin = list(range(len(observations)))
    for _ in range(copies):
        for index, observation in enumerate(observations):
            present = list(observation)
            if not present:
                out.append(observation)
                origin.append(index)
                continue
            keep = [name for name in present if rng.random() >= rate]
            if not keep:  # a request with no score never reaches the model: keep one detector
                keep = [present[rng.integers(len(present))]]
            out.append({name: observation[name] for name in keep})
            origin.append(index)
    return out, np.asarray(origin)


def grouped_folds(
    labels: np.ndarray, groups: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold grouped by scene group; fewer folds when there are too few groups."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    k = min(folds, n_groups)
    if k < 2 or len(np.unique(labels)) < 2:
        raise TrainingError(
            f"cannot cross-validate: {n_groups} scene group(s) and {len(np.unique(labels))} class(es) in "
            "the fit rows; the meta-learner needs both real and fake files from at least two scene groups"
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" on tiny sets
        return list(splitter.split(np.zeros(len(labels)), labels, groups))


@dataclass
class PreparedFold:
    """One cross-validation fold: augmented, encoded training rows and the clean held-out rows' indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    test_index: np.ndarray


def _prepare_folds(
    data: TrainingData, fit_rows: np.ndarray, config: TrainConfig
) -> tuple[list[PreparedFold], list[tuple[np.ndarray, np.ndarray]]]:
    labels, groups = data.labels[fit_rows], data.groups[fit_rows]
    splits = grouped_folds(labels, groups, config.folds, config.seed)
    rng = np.random.default_rng(config.seed)
    prepared = []
    for train_idx, test_idx in splits:
        observations = [data.observations[fit_rows[i]] for i in train_idx]
        augmented, origin = dropout_augment(observations, config.dropout_copies, config.dropout_rate, rng)
        prepared.append(
            PreparedFold(
                x_train=encode(data.spec, augmented),
                y_train=labels[train_idx][origin],
                x_test=encode(data.spec, [data.observations[fit_rows[i]] for i in test_idx]),
                test_index=test_idx,
            )
        )
    return prepared, splits


# Selection -----------------------------------------------------------------------------------------


def fit_model(spec: ClassifierSpec, params: Params, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """``spec`` built with ``params`` and fitted on (x, y), quietly."""
    model = spec.build(params, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny folds; the score says enough
        model.fit(x, y)
    return model


def out_of_fold_scores(
    spec: ClassifierSpec, params: Params, folds: list[PreparedFold], n: int, seed: int
) -> np.ndarray:
    """P(fake) of every held-out row from a model fitted on its fold's training rows."""
    oof = np.empty(n)
    for fold in folds:
        model = fit_model(spec, params, fold.x_train, fold.y_train, seed)
        oof[fold.test_index] = model.predict_proba(fold.x_test)[:, 1]
    return oof


def select_params(
    spec: ClassifierSpec, folds: list[PreparedFold], labels: np.ndarray, config: TrainConfig, bar: tqdm
) -> tuple[Params, float, np.ndarray, int]:
    """Best parameters of one candidate by out-of-fold log-loss: (params, loss, oof scores, tried)."""
    best: tuple[Params, float, np.ndarray] | None = None
    tried = 0
    last_error: Exception | None = None

    def score(params: Params) -> float:
        nonlocal best, tried, last_error
        tried += 1
        bar.update(1)
        try:
            oof = out_of_fold_scores(spec, params, folds, len(labels), config.seed)
        except Exception as exc:  # e.g. more neighbours than rows on a tiny set: try the other points
            last_error = exc
            return float("inf")
        loss = log_loss(labels, oof)
        if best is None or loss < best[1]:
            best = (params, loss, oof)
        return loss

    if config.optimizer == "grid":
        for params in spec.grid:
            score(dict(params))
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=config.seed)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.optimize(lambda trial: score(spec.space(trial)), n_trials=config.trials)
    if best is None:
        raise RuntimeError(f"every parameter setting failed, the last with {last_error!r}")
    return best[0], best[1], best[2], tried


def _choose_calibration(
    oof: np.ndarray, labels: np.ndarray, groups: np.ndarray, config: TrainConfig
) -> tuple[Calibrator, dict[str, float]]:
    """Platt or isotonic, by log-loss in an inner grouped cross-validation of the out-of-fold scores."""
    inner = grouped_folds(labels, groups, config.folds, config.seed + 1)
    losses: dict[str, float] = {}
    methods: tuple[CalibrationMethod, ...] = ("platt", "isotonic")
    for method in methods:
        calibrated = np.empty(len(labels))
        for train_idx, test_idx in inner:
            calibrator = fit_calibrator(method, oof[train_idx], labels[train_idx])
            calibrated[test_idx] = calibrator.apply(oof[test_idx])
        losses[method] = log_loss(labels, calibrated)
    chosen = min(methods, key=lambda m: losses[m])
    return fit_calibrator(chosen, oof, labels), losses


# The run -------------------------------------------------------------------------------------------


def train(
    data: TrainingData,
    config: TrainConfig | None = None,
    progress: bool = True,
    *,
    fusions: Mapping[str, baselines.Fusion],
) -> TrainResult:
    """Select, calibrate and fit the stacked model on ``data``; score it and the baselines on ``test``.

    ``fusions`` are the fusions stacking is compared against, by name, in report order; one must be
    ``average`` (meta_learner/baselines.py). ``make retrain`` hands in the gateway's voting and averaging.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread: the detectors share the two cores, and with oversubscribed threads the
    # many tiny cross-validation fits were measured several times slower than single-threaded.
    with threadpool_limits(limits=1):
        return _train(data, config or TrainConfig(), progress, fusions)


def check_fusions(fusions: Mapping[str, baselines.Fusion]) -> None:
    """TrainingError unless ``fusions`` can serve as a run's baselines."""
    problem = baselines.missing_reference(fusions)
    if problem is not None:
        raise TrainingError(problem)


def _train(
    data: TrainingData, config: TrainConfig, progress: bool, fusions: Mapping[str, baselines.Fusion]
) -> TrainResult:
    started = time.perf_counter()
    check_fusions(fusions)
    if config.optimizer == "optuna":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise TrainingError("OPTIMIZER=optuna needs Optuna: .venv/bin/pip install optuna") from None
    fit_rows = data.rows(config.fit_splits)
    test_rows = data.rows(["test"])
    if len(test_rows) == 0:
        raise TrainingError("the benchmark has no test rows: the final comparison needs them")
    labels = data.labels[fit_rows]
    folds, _ = _prepare_folds(data, fit_rows, config)

    specs = [get_classifier(name) for name in config.classifiers]
    per_candidate = config.trials if config.optimizer == "optuna" else None
    total = sum(per_candidate or len(s.grid) for s in specs)
    candidates: list[CandidateResult] = []
    oof_by_name: dict[str, np.ndarray] = {}
    with tqdm(total=total, desc="selecting (cv fits)", unit="candidate", disable=not progress) as bar:
        for spec in specs:
            t0 = time.perf_counter()
            try:
                params, loss, oof, tried = select_params(spec, folds, labels, config, bar)
            except Exception as exc:  # one broken candidate must not sink the others; the report names it
                log.warning("classifier %s failed: %s", spec.name, exc)
                candidates.append(CandidateResult(name=spec.name, error=f"{type(exc).__name__}: {exc}"))
                continue
            oof_by_name[spec.name] = oof
            candidates.append(
                CandidateResult(
                    name=spec.name,
                    params=params,
                    cv_log_loss=loss,
                    cv_roc_auc=roc_auc(labels, oof),
                    tried=tried,
                    seconds=round(time.perf_counter() - t0, 3),
                )
            )
    scored = [c for c in candidates if c.cv_log_loss is not None]
    if not scored:
        raise TrainingError(
            "every classifier failed: " + "; ".join(f"{c.name}: {c.error}" for c in candidates)
        )
    winner = min(scored, key=lambda c: c.cv_log_loss or float("inf"))
    calibrator, calibration_losses = _choose_calibration(
        oof_by_name[winner.name], labels, data.groups[fit_rows], config
    )

    # Final fits on every fit row (augmented), scored on test.
    rng = np.random.default_rng(config.seed)
    augmented, origin = dropout_augment(
        [data.observations[i] for i in fit_rows], config.dropout_copies, config.dropout_rate, rng
    )
    x_fit, y_fit = encode(data.spec, augmented), labels[origin]
    test_observations = [data.observations[i] for i in test_rows]
    x_test, y_test = encode(data.spec, test_observations), data.labels[test_rows]
    test_sources = list(data.sources[test_rows])
    final_model = None
    for candidate in scored:
        model = fit_model(get_classifier(candidate.name), candidate.params, x_fit, y_fit, config.seed)
        candidate.test = evaluate(y_test, model.predict_proba(x_test)[:, 1], test_sources)
        if candidate.name == winner.name:
            final_model = model

    def predict(x: np.ndarray) -> np.ndarray:
        return calibrator.apply(final_model.predict_proba(x)[:, 1])

    stacked_test = predict(x_test)
    baseline_results, baseline_scores = _baselines(data, fusions, test_observations, y_test, test_sources)
    return TrainResult(
        config=config,
        spec=data.spec,
        rows={s: int((data.splits == s).sum()) for s in ("train", "val", "test")},
        winner=winner.name,
        params=winner.params,
        calibrator=calibrator,
        calibration_cv_log_loss=calibration_losses,
        candidates=candidates,
        stacking_test=evaluate(y_test, stacked_test, test_sources),
        stacking_val_cv_log_loss=log_loss(labels, calibrator.apply(oof_by_name[winner.name])),
        baselines=baseline_results,
        missing_detector=_missing_detector(
            data, predict, fusions[baselines.REFERENCE_FUSION], test_observations, y_test
        ),
        detector_log_loss_by_split=_detector_log_loss_by_split(data),
        seconds=round(time.perf_counter() - started, 3),
        model=final_model,
        test_labels=[int(v) for v in y_test],
        test_scores={"stacking": stacked_test.tolist(), **baseline_scores},
    )


def _baselines(
    data: TrainingData,
    fusions: Mapping[str, baselines.Fusion],
    observations: list[Observation],
    labels: np.ndarray,
    sources: list[str],
) -> tuple[list[BaselineResult], dict[str, list[float]]]:
    results, all_scores = [], {}
    for method, fusion in fusions.items():
        scores = baselines.fused_scores(fusion, observations, data.weights)
        coverage = sum(bool(o) for o in observations) / max(len(observations), 1)
        results.append(BaselineResult(name=method, test=evaluate(labels, scores, sources), coverage=coverage))
        all_scores[method] = scores.tolist()
    for detector in data.spec.detectors:
        scores, coverage = baselines.single_scores(detector, observations)
        results.append(
            BaselineResult(name=detector, test=evaluate(labels, scores, sources), coverage=coverage)
        )
        all_scores[detector] = scores.tolist()
    return results, all_scores


def _missing_detector(
    data: TrainingData,
    predict: Callable[[np.ndarray], np.ndarray],
    reference: baselines.Fusion,
    observations: list[Observation],
    labels: np.ndarray,
) -> list[MissingDetectorResult]:
    """How each fusion copes when one detector is gone from every test row (rows left empty are skipped)."""
    out = []
    for detector in data.spec.detectors:
        reduced = [{k: v for k, v in o.items() if k != detector} for o in observations]
        keep = np.asarray([bool(o) for o in reduced])
        if not keep.any():
            continue
        kept = [o for o, k in zip(reduced, keep, strict=True) if k]
        stacked = predict(encode(data.spec, kept))
        averaged = baselines.fused_scores(reference, kept, data.weights)
        out.append(
            MissingDetectorResult(
                detector=detector,
                stacking_log_loss=log_loss(labels[keep], stacked),
                average_log_loss=log_loss(labels[keep], averaged),
            )
        )
    return out


def _detector_log_loss_by_split(data: TrainingData) -> dict[str, dict[str, float]]:
    """Each detector's log-loss on each split, over the rows it scored: shows over-confidence on train."""
    out: dict[str, dict[str, float]] = {}
    for detector in data.spec.detectors:
        per_split = {}
        for split in ("train", "val", "test"):
            rows = [i for i in data.rows([split]) if detector in data.observations[i]]
            if rows:
                probs = [data.observations[i][detector].prob_fake for i in rows]
                per_split[split] = log_loss(data.labels[rows], np.asarray(probs))
        out[detector] = per_split
    return out
