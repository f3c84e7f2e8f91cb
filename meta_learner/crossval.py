"""Leave-source-out training of the stacked model on an imported corpus (``make retrain`` with a corpus).

There is no train/val/test split: the corpus manifest puts every image of a source in one fold, and
every figure here is out-of-fold, i.e. each image is scored by a model that never saw its source:

1. **Folds** are the manifest's. A source found in two folds is an error (the import never does that).
2. **Candidates.** Every classifier (classifiers.py) with every grid point, or ``trials`` Optuna trials,
   is fitted on the other folds (dropout-augmented, as in train.py) and scores the clean held-out
   fold; its parameters are the ones with the lowest pooled out-of-fold log-loss.
3. **Calibration** of each candidate: none, Platt and isotonic, each cross-fitted over the same folds
   (fitted on the other folds' out-of-fold scores, applied to the held-out fold); the lowest log-loss
   wins. "None" wins when the scores are already calibrated (the best_detector candidate passes on a
   detector's own out-of-fold calibration): refitting a calibration per fold then only adds noise. A candidate's figures are those cross-fitted calibrated scores, so its calibration error is
   measured on images the calibration never saw either.
4. **Winner.** The simplest candidate (``complexity`` in classifiers.py: the best single detector first)
   whose calibrated out-of-fold log-loss is within one standard error (paired over images) of the
   best one's; with ``prefer_simple=False`` the best one.
5. **Figures**, all out-of-fold on every image: stacking, the gateway's voting and averaging and each
   detector alone (ROC-AUC, ECE, log-loss, accuracy, per generator family ROC-AUC against all real
   images, per source accuracy); the learned weight of each detector; and the stacker refitted
   without each detector in turn ("does it earn its place").
6. **Deployed model**: the winner fitted on every image (augmented), with its calibration fitted on
   all of its out-of-fold scores.

The detectors' own answers are out-of-fold too (oof.py): trained detectors publish, per image, the
answer of a model trained without that image's fold, the same folds as here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from tqdm import tqdm

from meta_learner import baselines
from meta_learner.calibration import CalibrationMethod, Calibrator, fit_calibrator
from meta_learner.classifiers import Params, get_classifier
from meta_learner.features import FeatureSpec, Observation, encode
from meta_learner.metrics import Metrics, evaluate, log_loss, paired_difference, roc_auc, row_losses
from meta_learner.train import (
    PreparedFold,
    TrainConfig,
    TrainingError,
    check_fusions,
    dropout_augment,
    fit_model,
    out_of_fold_scores,
    select_params,
)

log = logging.getLogger("meta_learner.crossval")

CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = ("none", "platt", "isotonic")


class Targets(BaseModel):
    """Issue #12's bar for the fused detector, printed beside the figures."""

    roc_auc: float = 0.90  # fused ROC-AUC at least
    family_roc_auc: float = 0.80  # every family with at least family_min_images images
    family_min_images: int = 20
    ece: float = 0.05  # at most


@dataclass
class CorpusData:
    """One row per corpus image: its detectors' answers, label, fold, source and generator family."""

    spec: FeatureSpec
    observations: list[Observation]
    labels: np.ndarray  # 0 real, 1 fake
    folds: np.ndarray
    sources: np.ndarray
    families: np.ndarray
    weights: dict[str, float] = field(default_factory=dict)  # registry weights, for the fusion baselines
    answers: dict[str, str] = field(default_factory=dict)  # detector -> where its answers came from


class FoldInfo(BaseModel):
    fold: int
    images: int
    real: int
    fake: int
    sources: list[str]


class SourceInfo(BaseModel):
    source: str
    label: str  # real | fake (the majority, should a source hold both)
    images: int
    fold: int


class FamilyInfo(BaseModel):
    family: str
    images: int
    sources: int
    judged: bool  # enough images for the per-family target


class MethodResult(BaseModel):
    """One method's out-of-fold figures on every corpus image."""

    name: str
    kind: str  # stacking | fusion | detector
    oof: Metrics
    coverage: float = 1.0  # share of images it gave a score for (the rest count as 0.5)
    note: str = ""


class CandidateResult(BaseModel):
    name: str
    complexity: int
    params: Params = {}
    tried: int = 0
    raw_log_loss: float | None = None  # out-of-fold, before calibration
    calibration: CalibrationMethod | None = None
    calibration_log_loss: dict[str, float] = {}
    oof: Metrics | None = None  # calibrated (cross-fitted), out-of-fold
    within_one_se: bool | None = None
    seconds: float = 0.0
    error: str | None = None


class FeatureWeight(BaseModel):
    """What the stacker learnt about one feature."""

    feature: str
    detector: str
    coefficient_per_sd: float | None = None  # logistic regression, on standardised features
    coefficient: float | None = None  # logistic regression, per unit of the raw feature
    importance: float | None = None  # the deployed tree model's feature importance (share)


class WithoutDetector(BaseModel):
    """The winner refitted (out-of-fold) with one detector taken away from every image."""

    detector: str
    answered: int  # images it had an answer for
    stacking_log_loss: float
    stacking_roc_auc: float | None
    delta_log_loss: float  # without it minus with it: > 0 means it helps
    ci95_half_width: float
    average_log_loss: float
    verdict: str  # yes | no: within noise | no: better without


class TargetCheck(BaseModel):
    target: str
    value: float | None
    met: bool
    detail: str = ""


class CrossValResult(BaseModel):
    """Everything one leave-source-out run found; the report and the artifact are written from it."""

    config: TrainConfig
    spec: FeatureSpec
    images: int
    folds: list[FoldInfo]
    sources: list[SourceInfo]
    families: list[FamilyInfo]
    answers: dict[str, str]
    winner: str
    params: Params
    calibrator: Calibrator
    selection: str
    candidates: list[CandidateResult]
    methods: list[MethodResult]  # stacking first, then voting, average, each detector
    weights: list[FeatureWeight]
    weights_note: str
    without: list[WithoutDetector]
    targets: Targets
    checks: list[TargetCheck]
    seconds: float
    model: Any = Field(default=None, exclude=True)  # the deployed winner, fitted on every image
    # Per image: the label and every method's out-of-fold P(fake), for paired comparisons in the report.
    oof_labels: list[int] = Field(default_factory=list, exclude=True)
    oof_scores: dict[str, list[float]] = Field(default_factory=dict, exclude=True)

    @property
    def stacking(self) -> MethodResult:
        return self.methods[0]

    def method(self, name: str) -> MethodResult:
        return next(m for m in self.methods if m.name == name)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) of encoded rows from the deployed model."""
        return self.calibrator.apply(self.model.predict_proba(x)[:, 1])


# Folds ---------------------------------------------------------------------------------------------


def source_folds(
    folds: np.ndarray, sources: np.ndarray, labels: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) per manifest fold; refuses folds that would split a source."""
    seen: dict[str, set[int]] = {}
    for source, fold in zip(sources.tolist(), folds.tolist(), strict=True):
        seen.setdefault(source, set()).add(int(fold))
    split = {s: sorted(f) for s, f in seen.items() if len(f) > 1}
    if split:
        shown = "; ".join(f"{s} in folds {f}" for s, f in sorted(split.items())[:5])
        raise TrainingError(
            f"{len(split)} source(s) sit in more than one fold ({shown}): the folds must keep every source "
            "whole. Import the corpus again (make benchmark CORPUS=...)"
        )
    names = sorted(set(folds.tolist()))
    if len(names) < 2 or len(np.unique(labels)) < 2:
        raise TrainingError(
            f"cannot cross-validate: {len(names)} fold(s) and {len(np.unique(labels))} class(es); the "
            "meta-learner needs real and AI images in at least two folds"
        )
    out = []
    for fold in names:
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        if len(np.unique(labels[train])) < 2:
            raise TrainingError(f"without fold {fold} only one class is left to learn from")
        out.append((train, test))
    return out


def prepare_folds(
    spec: FeatureSpec,
    observations: Sequence[Observation],
    labels: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    config: TrainConfig,
) -> list[PreparedFold]:
    """Encoded folds: dropout-augmented training rows, clean held-out rows."""
    rng = np.random.default_rng(config.seed)
    prepared = []
    for train_idx, test_idx in splits:
        augmented, origin = dropout_augment(
            [observations[i] for i in train_idx], config.dropout_copies, config.dropout_rate, rng
        )
        prepared.append(
            PreparedFold(
                x_train=encode(spec, augmented),
                y_train=labels[train_idx][origin],
                x_test=encode(spec, [observations[i] for i in test_idx]),
                test_index=test_idx,
            )
        )
    return prepared


def cross_fit_calibration(
    scores: np.ndarray,
    labels: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    methods: Sequence[CalibrationMethod] = CALIBRATION_METHODS,
) -> tuple[CalibrationMethod, np.ndarray, dict[str, float]]:
    """The calibration method with the lower cross-fitted log-loss, its calibrated scores, every loss."""
    losses: dict[str, float] = {}
    calibrated: dict[str, np.ndarray] = {}
    for method in methods:
        out = np.empty(len(labels))
        for train_idx, test_idx in splits:
            out[test_idx] = fit_calibrator(method, scores[train_idx], labels[train_idx]).apply(
                scores[test_idx]
            )
        calibrated[method], losses[method] = out, log_loss(labels, out)
    chosen = min(methods, key=lambda m: losses[m])
    return chosen, calibrated[chosen], losses


# The run -------------------------------------------------------------------------------------------


def train_leave_source_out(
    data: CorpusData,
    config: TrainConfig | None = None,
    progress: bool = True,
    targets: Targets | None = None,
    *,
    fusions: Mapping[str, baselines.Fusion],
) -> CrossValResult:
    """Select, calibrate and fit the stacked model on ``data`` with leave-source-out cross-validation.

    ``fusions`` are the fusions stacking is compared against (see ``train.train``).
    """
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread: the detectors share the two cores (see train.train).
    with threadpool_limits(limits=1):
        return _run(data, config or TrainConfig(), progress, targets or Targets(), fusions)


def _run(
    data: CorpusData,
    config: TrainConfig,
    progress: bool,
    targets: Targets,
    fusions: Mapping[str, baselines.Fusion],
) -> CrossValResult:
    started = time.perf_counter()
    check_fusions(fusions)
    if config.optimizer == "optuna":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise TrainingError("OPTIMIZER=optuna needs Optuna: .venv/bin/pip install optuna") from None
    labels, n = data.labels, len(data.labels)
    splits = source_folds(data.folds, data.sources, labels)
    folds = prepare_folds(data.spec, data.observations, labels, splits, config)

    specs = [get_classifier(name) for name in config.classifiers]
    per_candidate = config.trials if config.optimizer == "optuna" else None
    total = sum(per_candidate or len(s.grid) for s in specs) + len(data.spec.detectors)
    candidates: list[CandidateResult] = []
    calibrated: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    sources, families = list(data.sources), list(data.families)
    with tqdm(total=total, desc="leave-source-out fits", unit="step", disable=not progress) as bar:
        for spec in specs:
            t0 = time.perf_counter()
            try:
                params, loss, oof, tried = select_params(spec, folds, labels, config, bar)
            except Exception as exc:  # one broken candidate must not sink the others; the report names it
                log.warning("classifier %s failed: %s", spec.name, exc)
                candidates.append(
                    CandidateResult(
                        name=spec.name, complexity=spec.complexity, error=f"{type(exc).__name__}: {exc}"
                    )
                )
                continue
            method, scores, losses = cross_fit_calibration(oof, labels, splits)
            raw[spec.name], calibrated[spec.name] = oof, scores
            candidates.append(
                CandidateResult(
                    name=spec.name,
                    complexity=spec.complexity,
                    params=params,
                    tried=tried,
                    raw_log_loss=loss,
                    calibration=method,
                    calibration_log_loss=losses,
                    oof=evaluate(labels, scores, sources, families=families),
                    seconds=round(time.perf_counter() - t0, 3),
                )
            )
        scored = [c for c in candidates if c.oof is not None]
        if not scored:
            raise TrainingError(
                "every classifier failed: " + "; ".join(f"{c.name}: {c.error}" for c in candidates)
            )
        winner, selection = _choose_winner(scored, calibrated, labels, config.prefer_simple)
        winner_spec = get_classifier(winner.name)
        assert winner.calibration is not None
        calibrator = fit_calibrator(winner.calibration, raw[winner.name], labels)

        # The deployed model: every image, augmented.
        rng = np.random.default_rng(config.seed)
        augmented, origin = dropout_augment(
            data.observations, config.dropout_copies, config.dropout_rate, rng
        )
        x_all, y_all = encode(data.spec, augmented), labels[origin]
        model = fit_model(winner_spec, winner.params, x_all, y_all, config.seed)

        stacked = calibrated[winner.name]
        methods, scores_by_method = _methods(data, stacked, winner, fusions)
        reference = fusions[baselines.REFERENCE_FUSION]
        without = _without_each_detector(data, splits, winner, stacked, reference, config, bar)
    weights, weights_note = _learned_weights(data.spec, model, winner.name, candidates, x_all, y_all, config)
    family_info = _family_info(data, targets)
    return CrossValResult(
        config=config,
        spec=data.spec,
        images=n,
        folds=_fold_info(data),
        sources=_source_info(data),
        families=family_info,
        answers=dict(data.answers),
        winner=winner.name,
        params=winner.params,
        calibrator=calibrator,
        selection=selection,
        candidates=candidates,
        methods=methods,
        weights=weights,
        weights_note=weights_note,
        without=without,
        targets=targets,
        checks=target_checks(methods[0].oof, family_info, targets),
        seconds=round(time.perf_counter() - started, 3),
        model=model,
        oof_labels=[int(v) for v in labels],
        oof_scores=scores_by_method,
    )


def _choose_winner(
    scored: list[CandidateResult], calibrated: dict[str, np.ndarray], labels: np.ndarray, prefer_simple: bool
) -> tuple[CandidateResult, str]:
    best = min(scored, key=lambda c: c.oof.log_loss if c.oof else math.inf)
    best_losses = row_losses(labels, calibrated[best.name])
    for c in scored:
        diff = row_losses(labels, calibrated[c.name]) - best_losses
        se = float(diff.std(ddof=1)) / math.sqrt(len(diff)) if len(diff) > 1 else 0.0
        c.within_one_se = float(diff.mean()) <= se
    if not prefer_simple:
        return best, "lowest calibrated out-of-fold log-loss"
    eligible = [c for c in scored if c.within_one_se]
    winner = min(eligible, key=lambda c: (c.complexity, c.oof.log_loss if c.oof else math.inf))
    rule = (
        "the simplest candidate whose calibrated out-of-fold log-loss is within one standard error "
        f"(paired over images) of the best ({best.name})"
    )
    return winner, rule


def _methods(
    data: CorpusData, stacked: np.ndarray, winner: CandidateResult, fusions: Mapping[str, baselines.Fusion]
) -> tuple[list[MethodResult], dict[str, list[float]]]:
    labels, sources, families = data.labels, list(data.sources), list(data.families)
    note = f"{winner.name} + {winner.calibration}, out-of-fold"
    methods = [
        MethodResult(
            name="stacking",
            kind="stacking",
            oof=evaluate(labels, stacked, sources, families=families),
            note=note,
        )
    ]
    scores: dict[str, list[float]] = {"stacking": stacked.tolist()}
    observations = data.observations
    covered = sum(bool(o) for o in observations) / max(len(observations), 1)
    for method, fusion in fusions.items():
        fused = baselines.fused_scores(fusion, observations, data.weights)
        methods.append(
            MethodResult(
                name=method,
                kind="fusion",
                oof=evaluate(labels, fused, sources, families=families),
                coverage=covered,
                note="gateway fusion",
            )
        )
        scores[method] = fused.tolist()
    for detector in data.spec.detectors:
        single, coverage = baselines.single_scores(detector, observations)
        methods.append(
            MethodResult(
                name=detector,
                kind="detector",
                oof=evaluate(labels, single, sources, families=families),
                coverage=coverage,
                note=f"single detector, {data.answers.get(detector, 'live')} answers",
            )
        )
        scores[detector] = single.tolist()
    return methods, scores


def _without_each_detector(
    data: CorpusData,
    splits: list[tuple[np.ndarray, np.ndarray]],
    winner: CandidateResult,
    stacked: np.ndarray,
    reference: baselines.Fusion,
    config: TrainConfig,
    bar: tqdm,
) -> list[WithoutDetector]:
    """The winner refitted out-of-fold without each detector: does the detector earn its place?"""
    spec = get_classifier(winner.name)
    labels = data.labels
    out = []
    for detector in data.spec.detectors:
        bar.update(1)
        answered = sum(detector in o for o in data.observations)
        if answered == 0:
            continue  # never answered: there is nothing to take away
        reduced = [{k: v for k, v in o.items() if k != detector} for o in data.observations]
        folds = prepare_folds(data.spec, reduced, labels, splits, config)
        oof = out_of_fold_scores(spec, winner.params, folds, len(labels), config.seed)
        assert winner.calibration is not None
        _, calibrated, _ = cross_fit_calibration(oof, labels, splits, methods=(winner.calibration,))
        delta, half = paired_difference(labels, calibrated, stacked)
        if delta > half:
            verdict = "yes"
        elif delta < -half:
            verdict = "no: better without"
        else:
            verdict = "no: within noise"
        averaged = baselines.fused_scores(reference, reduced, data.weights)
        out.append(
            WithoutDetector(
                detector=detector,
                answered=answered,
                stacking_log_loss=log_loss(labels, calibrated),
                stacking_roc_auc=roc_auc(labels, calibrated),
                delta_log_loss=delta,
                ci95_half_width=half,
                average_log_loss=log_loss(labels, averaged),
                verdict=verdict,
            )
        )
    return out


def _detector_of(feature: str) -> str:
    return feature.split(".", 1)[0]


def _learned_weights(
    spec: FeatureSpec,
    model: Any,
    winner: str,
    candidates: list[CandidateResult],
    x_all: np.ndarray,
    y_all: np.ndarray,
    config: TrainConfig,
) -> tuple[list[FeatureWeight], str]:
    """Logistic coefficients (the deployed model's, or a logistic regression fitted on the same rows) and,
    for a tree-based winner, its feature importances."""
    names = spec.names
    coefficients: tuple[np.ndarray, np.ndarray] | None = None
    note = []
    lr = next((c for c in candidates if c.name == "logistic_regression" and c.oof is not None), None)
    linear = model if winner == "logistic_regression" else None
    if linear is None and lr is not None:
        linear = fit_model(get_classifier(lr.name), lr.params, x_all, y_all, config.seed)
    if linear is not None:
        scaler, regression = linear.steps[0][1], linear.steps[-1][1]
        per_sd = np.asarray(regression.coef_[0], dtype=np.float64)
        coefficients = (per_sd, per_sd / np.asarray(scaler.scale_, dtype=np.float64))
        what = "the deployed model's" if winner == "logistic_regression" else "a logistic regression's"
        note.append(
            f"Coefficients: {what} (C={lr.params.get('C') if lr else '?'}), in log-odds of fake per standard "
            "deviation of the feature and per unit of it (for a `.logit` feature: per unit of the detector's "
            "own log-odds, so 1.0 takes the detector at its word)."
        )
    order = getattr(model, "order_", None)
    if order is not None:  # best_detector: which detector answers, and which stands in when it is missing
        chain = [
            f"`{_detector_of(names[int(c)])}` (log-odds x {a:.2f} {b:+.2f}; log-loss {loss:.3f} on the training "
            "rows with dropout copies, a missing answer counted at the base rate)"
            for c, a, b, loss in zip(
                order, model.slope_, model.intercept_, model.train_log_loss_, strict=True
            )
        ]
        note.append(
            f"The deployed {winner} answers with {chain[0]}; on a file it did not answer, with the next that did: "
            + ", then ".join(chain[1:] or ["none (the base rate)"])
            + ". The other features carry no weight."
        )
    importances = getattr(model, "feature_importances_", None)
    if importances is not None:
        importances = np.asarray(importances, dtype=np.float64)
        importances = importances / importances.sum() if importances.sum() > 0 else importances
        note.append(f"Importance: the deployed {winner}'s feature importances, as shares.")
    out = []
    for i, feature in enumerate(names):
        out.append(
            FeatureWeight(
                feature=feature,
                detector=_detector_of(feature),
                coefficient_per_sd=None if coefficients is None else float(coefficients[0][i]),
                coefficient=None if coefficients is None else float(coefficients[1][i]),
                importance=None if importances is None else float(importances[i]),
            )
        )
    return out, " ".join(note)


def _fold_info(data: CorpusData) -> list[FoldInfo]:
    out = []
    for fold in sorted(set(data.folds.tolist())):
        rows = data.folds == fold
        out.append(
            FoldInfo(
                fold=int(fold),
                images=int(rows.sum()),
                real=int((rows & (data.labels == 0)).sum()),
                fake=int((rows & (data.labels == 1)).sum()),
                sources=sorted(set(data.sources[rows].tolist())),
            )
        )
    return out


def _source_info(data: CorpusData) -> list[SourceInfo]:
    out = []
    for source in sorted(set(data.sources.tolist())):
        rows = data.sources == source
        out.append(
            SourceInfo(
                source=source,
                label="fake" if data.labels[rows].mean() >= 0.5 else "real",
                images=int(rows.sum()),
                fold=int(data.folds[rows][0]),
            )
        )
    return out


def _family_info(data: CorpusData, targets: Targets) -> list[FamilyInfo]:
    fake = data.labels == 1
    out = []
    for family in sorted(set(data.families[fake].tolist())):
        rows = fake & (data.families == family)
        images = int(rows.sum())
        out.append(
            FamilyInfo(
                family=family,
                images=images,
                sources=len(set(data.sources[rows].tolist())),
                judged=images >= targets.family_min_images,
            )
        )
    return out


def target_checks(stacking: Metrics, families: list[FamilyInfo], targets: Targets) -> list[TargetCheck]:
    """Issue #12's targets against the stacker's out-of-fold figures."""
    checks = [
        TargetCheck(
            target=f"fused ROC-AUC >= {targets.roc_auc:.2f}",
            value=stacking.roc_auc,
            met=stacking.roc_auc is not None and stacking.roc_auc >= targets.roc_auc,
        )
    ]
    judged = [f.family for f in families if f.judged]
    values = {f: stacking.per_family_roc_auc.get(f) for f in judged}
    failing = sorted(f for f, v in values.items() if v is None or v < targets.family_roc_auc)
    known = [v for v in values.values() if v is not None]
    checks.append(
        TargetCheck(
            target=f"every family with >= {targets.family_min_images} images: ROC-AUC >= {targets.family_roc_auc:.2f}",
            value=min(known) if known else None,
            met=bool(judged) and not failing,
            detail=(
                f"{len(judged)} families judged"
                + (f"; below: {', '.join(failing)}" if failing else "")
                + ("" if judged else f"; no family has {targets.family_min_images} images")
            ),
        )
    )
    checks.append(
        TargetCheck(target=f"ECE <= {targets.ece:.2f}", value=stacking.ece, met=stacking.ece <= targets.ece)
    )
    return checks
