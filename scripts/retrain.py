"""``make retrain`` / ``make eval``: build the stacked meta-learner's features, train, report, deploy.

    python -m scripts.retrain --media-type image                    # make retrain MEDIA_TYPE=image
    python -m scripts.retrain --media-type image --allow-missing    # ALLOW_MISSING=1: train without
                                                                    #   the detectors that are not ready
    python -m scripts.retrain --media-type image --optimizer optuna --trials 30
    python -m scripts.retrain --media-type image --from-cache       # make eval: no detector is asked

What it learns from (``--manifest``; by default the imported corpus data/benchmark/corpus/manifest.csv
when there is one, else the patch benchmark data/benchmark/manifest.csv):

- an **imported corpus** (``make benchmark CORPUS=...``): every ready detector whose train.py published
  out-of-fold answers for the weights it serves (detectors/<package>/weights/oof_answers.json, checked by
  meta_learner/oof.py) contributes those; every other detector (e.g. metadata_provenance, which has no
  training) is asked live through the fan-out client the gateway uses (tribunal_sdk.client), cached. The stacker is cross-validated
  leave-source-out over the manifest's folds (meta_learner/crossval.py), with no train/val/test split.
- the **patch benchmark**: every detector is asked live and the stacker is fitted on ``val`` and
  scored on ``test`` (meta_learner/train.py).

Retrain checks that every enabled detector for the media type is ready (and names the ones that are
not), gathers the answers, trains, writes meta_learner/reports/<media>/<version>.md + .json and the
artifact, then switches the deployed pointer; a running gateway picks the new version up within a
second, without a restart.

This script is where the gateway and the meta-learner meet: it reads the gateway's registry and hands
the meta-learner the registry entries and the gateway's own fusion strategies to compare stacking
against (``gateway_fusions``); the two packages do not import each other.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import numpy as np
from pydantic import BaseModel

from benchmark.manifest import ManifestError
from gateway.fusion import FusionContext, FusionStrategy, Vote, get_strategy
from gateway.registry import DEFAULT_REGISTRY_PATH, DetectorEntry, load_registry
from meta_learner import artifacts, crossval_report, paths
from meta_learner.baselines import Fusion, WeightedScore
from meta_learner.calibration import Calibrator
from meta_learner.classifiers import Params
from meta_learner.crossval import CorpusData, train_leave_source_out
from meta_learner.dataset import (
    BenchmarkItem,
    corpus_training_hash,
    default_manifest,
    is_corpus_manifest,
    read_corpus,
    read_manifest,
    training_data_hash,
)
from meta_learner.features import DetectorScore, FeatureSpec, Observation, never_answered
from meta_learner.oof import OofAnswers, OofError, oof_path, read_oof_answers
from meta_learner.query import FeatureCache, Fingerprint, collect, probe_all, read_observations
from meta_learner.report import headline, write_report
from meta_learner.train import TrainConfig, TrainingData, TrainingError, train
from tribunal_sdk.client import FanoutClient
from tribunal_sdk.errors import TribunalError
from tribunal_sdk.media import file_sha256

# A ready detector failing on more than this share of files makes the features untrustworthy.
MAX_FAILURE_SHARE = 0.10

# The gateway's strategies stacking is compared against, in report order.
BASELINE_FUSIONS = ("voting", "average")


class RetrainError(TribunalError, RuntimeError):
    """Retraining stopped; the message says why and what to do."""

    code = "retrain_stopped"


class RetrainOptions(BaseModel):
    media_type: Literal["image", "video"] = "image"
    allow_missing: bool = False
    from_cache: bool = False
    deploy: bool = True
    manifest: Path | None = None
    registry: Path = DEFAULT_REGISTRY_PATH
    artifacts_dir: Path = paths.ARTIFACTS_DIR
    reports_dir: Path = paths.REPORTS_DIR
    cache_dir: Path = paths.CACHE_DIR
    detectors_dir: Path = paths.DETECTORS_DIR  # where detectors/<package>/weights/oof_answers.json live
    concurrency: int = 8
    progress: bool = True
    config: TrainConfig = TrainConfig()


class RetrainOutcome(BaseModel):
    version: str
    report: Path
    artifact: Path
    deployed: bool
    evaluation: str = "test split"  # or "leave-source-out (out-of-fold)" on an imported corpus
    stacking_log_loss: float
    stacking_at_least_as_good_as_all: bool
    targets_met: bool | None = None  # issue #12's targets, on an imported corpus
    seconds: float


def say(message: str) -> None:
    print(message, flush=True)


def gateway_fusions(media_type: str, names: Sequence[str] = BASELINE_FUSIONS) -> dict[str, Fusion]:
    """The gateway's fusion strategies ``names`` as the meta-learner's baselines: each scores a row as
    ``ensemble_method=<name>`` would at the default threshold 0.5 with no uncertainty band."""
    ctx = FusionContext(media_type=media_type, threshold=0.5, uncertainty_band=0.0)

    def as_fusion(strategy: FusionStrategy) -> Fusion:
        def fuse(scores: Sequence[WeightedScore]) -> float | None:
            votes = [Vote(s.detector, s.prob_fake, s.weight) for s in scores]
            return strategy.run(votes, ctx).score_fake

        return fuse

    return {name: as_fusion(get_strategy(name)) for name in names}


async def _fingerprints_from_detectors(
    entries: list[DetectorEntry], fanout: FanoutClient, allow_missing: bool
) -> list[Fingerprint]:
    probes = await probe_all(fanout, entries)
    not_ready = [p for p in probes.values() if not p.ready]
    if not_ready:
        listed = "\n".join(f"  - {p.name}: {p.reason}" for p in not_ready)
        if not allow_missing:
            raise RetrainError(
                f"these enabled detectors are not ready:\n{listed}\n"
                "Start them (make start; check with make health), or retrain without them: ALLOW_MISSING=1"
            )
        say(f"warning: training without detectors that are not ready (ALLOW_MISSING=1):\n{listed}")
    ready = [Fingerprint.from_probe(p) for p in probes.values() if p.ready]
    if not ready:
        raise RetrainError("no detector is ready: nothing to learn from")
    return ready


def _cached_fingerprints(cache: FeatureCache, media: str) -> list[Fingerprint]:
    """The detectors of the last collection (make eval); an error when nothing was ever collected."""
    fingerprints = cache.latest_collection(media)
    if fingerprints is None:
        raise RetrainError(f"no cached {media} features yet: run make retrain MEDIA_TYPE={media} first")
    return fingerprints


def _warn_unknown_detectors(options: RetrainOptions, entries: list[DetectorEntry]) -> None:
    try:
        version = artifacts.deployed_version(options.artifacts_dir, options.media_type)
        if version is None:
            return
        manifest = artifacts.read_manifest(options.artifacts_dir / options.media_type / version)
    except artifacts.ArtifactError as exc:
        say(f"warning: cannot read the deployed artifact: {exc}")
        return
    unknown = [e.name for e in entries if e.name not in manifest.spec.detectors]
    if unknown:
        say(
            f"warning: the deployed meta-learner {options.media_type}/{version} does not know "
            f"{', '.join(unknown)}; the gateway refuses it until this retrain deploys a new one"
        )


async def retrain(
    options: RetrainOptions, transport: httpx.AsyncBaseTransport | None = None
) -> RetrainOutcome:
    """The whole run. ``transport`` replaces the network to the detectors (tests)."""
    started = time.perf_counter()
    media = options.media_type
    registry = load_registry(options.registry)
    entries = registry.for_media_type(media)
    if not entries:
        raise RetrainError(f"no enabled detector handles {media} in {options.registry}")
    _warn_unknown_detectors(options, entries)
    manifest_path = options.manifest or default_manifest(media)
    if is_corpus_manifest(manifest_path):
        return await _retrain_on_corpus(options, manifest_path, entries, transport, started)
    items = read_manifest(manifest_path)
    say(f"{len(items)} {media} files, detectors: {', '.join(e.name for e in entries)}")

    with FeatureCache(options.cache_dir / f"{media}.sqlite") as cache:
        collect_summary: dict[str, object] = {}
        if options.from_cache:
            fingerprints = _cached_fingerprints(cache, media)
            shas = [await asyncio.to_thread(file_sha256, item.path) for item in items]
        else:
            async with FanoutClient(transport=transport) as fanout:
                fingerprints = await _fingerprints_from_detectors(entries, fanout, options.allow_missing)
                shas, stats = await collect(
                    items, media, entries, fingerprints, fanout, cache, options.concurrency, options.progress
                )
            collect_summary = stats.summary()
            _check_failures(stats.failed, len(items), options.allow_missing, stats.first_error)
            cache.record_collection(media, fingerprints)
        observations, uncached = read_observations(shas, fingerprints, cache)
    if uncached:
        say(f"note: files without a cached answer (treated as missing): {dict(uncached)}")

    spec = FeatureSpec(
        media_type=media,
        detectors=[e.name for e in entries],
        classes={f.name: f.classes for f in fingerprints if f.classes},
    )
    data = _training_data(spec, items, observations, entries)
    result = train(data, options.config, progress=options.progress, fusions=gateway_fusions(media))
    test_rows = [row for row, item in zip(observations, items, strict=True) if item.split == "test"]
    reference = artifacts.reference_from_rows(
        f"answers on the test split of {manifest_path} ({len(test_rows)} files)",
        spec.detectors,
        test_rows,
        {method: result.test_scores[method] for method in ("stacking", *BASELINE_FUSIONS)},
    )

    version = _unused_version(options.artifacts_dir, media)
    by_name = {f.name: f for f in fingerprints}
    context = {
        "detectors": {e.name: by_name[e.name].key if e.name in by_name else "not ready" for e in entries},
        "manifest": str(manifest_path),
        "queries": collect_summary or "none (from cache)",
        "command": f"make {'eval' if options.from_cache else 'retrain'} MEDIA_TYPE={media}",
    }
    report_md, _ = write_report(options.reports_dir, version, result, context)
    artifact = _save_and_deploy(
        options,
        version,
        spec,
        entries,
        by_name,
        result.winner,
        result.params,
        result.calibrator,
        result.model,
        training_data_hash(items, shas, {f.name: f.key for f in fingerprints}),
        metrics={
            "test": result.stacking_test.model_dump(),
            "cv_log_loss": result.stacking_val_cv_log_loss,
            "headline": headline(result),
        },
        config=result.config.model_dump(),
        reference=reference,
        independent_evidence=never_answered(spec, observations),
    )
    head = headline(result)
    return RetrainOutcome(
        version=version,
        report=report_md,
        artifact=artifact,
        deployed=options.deploy,
        stacking_log_loss=head["stacking_log_loss"],
        stacking_at_least_as_good_as_all=head["stacking_at_least_as_good_as_all"],
        seconds=round(time.perf_counter() - started, 1),
    )


def _save_and_deploy(
    options: RetrainOptions,
    version: str,
    spec: FeatureSpec,
    entries: list[DetectorEntry],
    used: dict[str, Fingerprint],
    winner: str,
    params: Params,
    calibrator: Calibrator,
    model: object,
    data_hash: str,
    metrics: dict[str, object],
    config: dict[str, object],
    reference: artifacts.ScoreReference | None = None,
    independent_evidence: list[str] | None = None,
) -> Path:
    """Write the artifact (the detectors in ``used`` with their versions, the rest as None) with its score
    reference (the training distribution the gateway watches live scores against) and deploy it.
    ``independent_evidence``: the detectors that answered no training file (features.never_answered)."""
    manifest = artifacts.ArtifactManifest(
        version=version,
        media_type=options.media_type,
        created_at=datetime.now(UTC),
        classifier=winner,
        params=params,
        model_format=_format_of(winner),
        model_file="",
        model_sha256="",
        features=spec.names,
        spec=spec,
        detector_versions={e.name: used[e.name].version if e.name in used else None for e in entries},
        detector_fingerprints={e.name: used[e.name].key if e.name in used else None for e in entries},
        calibrator=calibrator,
        independent_evidence=independent_evidence or [],
        training_data_hash=data_hash,
        metrics=metrics,
        config=config,
    )
    artifact = artifacts.save_artifact(options.artifacts_dir, manifest, model, reference)
    if options.deploy:
        artifacts.deploy(options.artifacts_dir, options.media_type, version)
    return artifact


# On an imported corpus -------------------------------------------------------------------------------

OUT_OF_FOLD = "out-of-fold"
LIVE = "live"


@dataclass
class AnswerPlan:
    """Where each registry detector's answers come from on an imported corpus."""

    origin: dict[str, str] = field(default_factory=dict)  # name -> out-of-fold | live | missing (why)
    oof: dict[str, OofAnswers] = field(default_factory=dict)
    live: list[str] = field(default_factory=list)

    def used(self, fingerprints: list[Fingerprint]) -> dict[str, Fingerprint]:
        """The fingerprints of the detectors whose answers are features (not missing)."""
        return {f.name: f for f in fingerprints if f.name in self.oof or f.name in self.live}


def _plan_answers(
    entries: list[DetectorEntry],
    fingerprints: list[Fingerprint],
    items: list[BenchmarkItem],
    manifest_sha256: str,
    options: RetrainOptions,
) -> AnswerPlan:
    """Out-of-fold answers for every ready detector that publishes them for the weights it serves; live
    answers for the others. A file that does not match is an error (or, with ALLOW_MISSING=1, the detector
    is left out)."""
    by_name = {f.name: f for f in fingerprints}
    shas = [item.sha256 for item in items]
    plan = AnswerPlan()
    for entry in entries:
        name = entry.name
        fingerprint = by_name.get(name)
        if fingerprint is None:
            plan.origin[name] = "missing (not ready)"
            continue
        path = oof_path(entry, options.detectors_dir)
        try:
            answers = read_oof_answers(path, fingerprint, manifest_sha256, package=entry.package)
        except FileNotFoundError:
            plan.live.append(name)
            plan.origin[name] = LIVE
            if fingerprint.weights_sha256:
                say(
                    f"note: {name} publishes no out-of-fold answers ({path}): asked live. Fine if it was not "
                    f"trained on this corpus; if it was, its answers on its own training images are "
                    f"over-confident: make train-detector NAME={name} writes them."
                )
            continue
        except OofError as exc:
            if not options.allow_missing:
                raise RetrainError(f"{exc}\nOr retrain the stacker without {name}: ALLOW_MISSING=1") from None
            say(f"warning: training without {name} (ALLOW_MISSING=1): {exc}")
            plan.origin[name] = "missing (out-of-fold answers do not match)"
            continue
        unanswered = [sha for sha in shas if sha not in answers.listed]
        if len(unanswered) > MAX_FAILURE_SHARE * len(shas) and not options.allow_missing:
            raise RetrainError(
                f"{path}: answers {len(shas) - len(unanswered)} of the manifest's {len(shas)} images. Write them "
                f"again: make train-detector NAME={name} (or ALLOW_MISSING=1 to treat the rest as missing)"
            )
        if unanswered:
            say(f"warning: {name}'s out-of-fold answers lack {len(unanswered)} image(s): missing there")
        plan.oof[name] = answers
        plan.origin[name] = OUT_OF_FOLD
    return plan


def _check_sent_bytes(items: list[BenchmarkItem], sent: list[str]) -> None:
    """The bytes sent to the live detectors must be the ones the import hashed (the out-of-fold answers
    and the fold assignment are keyed by that sha256)."""
    changed = [item for item, sha in zip(items, sent, strict=True) if sha != item.sha256]
    if changed:
        raise RetrainError(
            f"{len(changed)} image(s) differ from the sha256 the corpus import recorded (first: {changed[0].path}): "
            "import the corpus again (make benchmark CORPUS=...)"
        )


async def _retrain_on_corpus(
    options: RetrainOptions,
    manifest_path: Path,
    entries: list[DetectorEntry],
    transport: httpx.AsyncBaseTransport | None,
    started: float,
) -> RetrainOutcome:
    """Leave-source-out retraining on an imported corpus (see the module docstring)."""
    media = options.media_type
    items = read_corpus(manifest_path, check_files=not options.from_cache)
    manifest_sha256 = await asyncio.to_thread(file_sha256, manifest_path)
    shas = [item.sha256 for item in items]
    n_sources, n_folds = len({i.source for i in items}), len({i.fold for i in items})
    say(
        f"{len(items)} images from {n_sources} sources in {n_folds} folds ({manifest_path}); "
        f"detectors: {', '.join(e.name for e in entries)}"
    )
    with FeatureCache(options.cache_dir / f"{media}.sqlite") as cache:
        collect_summary: dict[str, object] = {}
        if options.from_cache:
            fingerprints = _cached_fingerprints(cache, media)
            plan = _plan_answers(entries, fingerprints, items, manifest_sha256, options)
        else:
            async with FanoutClient(transport=transport) as fanout:
                fingerprints = await _fingerprints_from_detectors(entries, fanout, options.allow_missing)
                plan = _plan_answers(entries, fingerprints, items, manifest_sha256, options)
                live_entries = [e for e in entries if e.name in plan.live]
                if live_entries:
                    sent, stats = await collect(
                        items,
                        media,
                        live_entries,
                        [f for f in fingerprints if f.name in plan.live],
                        fanout,
                        cache,
                        options.concurrency,
                        options.progress,
                    )
                    _check_sent_bytes(items, sent)
                    collect_summary = stats.summary()
                    _check_failures(stats.failed, len(items), options.allow_missing, stats.first_error)
            cache.record_collection(media, fingerprints)
        live_fingerprints = [f for f in fingerprints if f.name in plan.live]
        live, uncached = read_observations(shas, live_fingerprints, cache)
    if uncached:
        say(f"note: images without a cached live answer (treated as missing): {dict(uncached)}")
    observations: list[Observation] = []
    for sha, answered in zip(shas, live, strict=True):
        row: dict[str, DetectorScore] = dict(answered)
        for name, answers in plan.oof.items():
            answer = answers.get(sha)
            if answer is not None:
                row[name] = answer
        observations.append(row)
    say("answers: " + ", ".join(f"{name} {origin}" for name, origin in plan.origin.items()))

    used = plan.used(fingerprints)
    spec = FeatureSpec(
        media_type=media,
        detectors=[e.name for e in entries],
        classes={name: f.classes for name, f in used.items() if f.classes},
    )
    data = CorpusData(
        spec=spec,
        observations=observations,
        labels=np.asarray([int(i.is_fake) for i in items]),
        folds=np.asarray([i.fold for i in items]),
        sources=np.asarray([i.source for i in items]),
        families=np.asarray([i.family for i in items]),
        weights={e.name: e.weight for e in entries},
        answers=plan.origin,
    )
    result = train_leave_source_out(
        data, options.config, progress=options.progress, fusions=gateway_fusions(media)
    )

    version = _unused_version(options.artifacts_dir, media)
    oof_files = {
        name: {"file": str(a.path), "sha256": a.file_sha256, "folds": a.folds, "abstained": a.abstained}
        for name, a in plan.oof.items()
    }
    context = {
        "manifest": str(manifest_path),
        "manifest_sha256": manifest_sha256,
        "detectors": {e.name: used[e.name].key if e.name in used else plan.origin[e.name] for e in entries},
        "answers": plan.origin,
        "out_of_fold_files": oof_files,
        "live_queries": collect_summary or ("none (from cache)" if options.from_cache else "none"),
        "command": f"make {'eval' if options.from_cache else 'retrain'} MEDIA_TYPE={media}",
    }
    report_md, _ = crossval_report.write_report(options.reports_dir, version, result, context)
    head = crossval_report.headline(result)
    provenance = {
        name: f.key + (f"+oof:{plan.oof[name].file_sha256}" if name in plan.oof else "")
        for name, f in used.items()
    }
    reference = artifacts.reference_from_rows(
        f"out-of-fold answers on {manifest_path} ({len(items)} images; live answers for "
        f"{', '.join(plan.live) or 'no detector'})",
        spec.detectors,
        observations,
        {method: result.oof_scores[method] for method in ("stacking", *BASELINE_FUSIONS)},
    )
    artifact = _save_and_deploy(
        options,
        version,
        spec,
        entries,
        used,
        result.winner,
        result.params,
        result.calibrator,
        result.model,
        corpus_training_hash(items, provenance),
        metrics={
            "evaluation": "leave-source-out, out-of-fold",
            "oof": result.stacking.oof.model_dump(),
            "targets": [c.model_dump() for c in result.checks],
            "headline": head,
        },
        config={
            **result.config.model_dump(),
            "manifest_sha256": manifest_sha256,
            "answers": plan.origin,
            "selection": result.selection,
        },
        reference=reference,
        independent_evidence=never_answered(spec, observations),
    )
    return RetrainOutcome(
        version=version,
        report=report_md,
        artifact=artifact,
        deployed=options.deploy,
        evaluation="leave-source-out (out-of-fold)",
        stacking_log_loss=head["stacking_log_loss"],
        stacking_at_least_as_good_as_all=head["stacking_at_least_as_good_as_all"],
        targets_met=head["targets_met"],
        seconds=round(time.perf_counter() - started, 1),
    )


def _training_data(
    spec: FeatureSpec, items: list[BenchmarkItem], observations: list, entries: list[DetectorEntry]
) -> TrainingData:
    return TrainingData(
        spec=spec,
        observations=observations,
        labels=np.asarray([int(i.is_fake) for i in items]),
        splits=np.asarray([i.split for i in items]),
        groups=np.asarray([i.scene_group for i in items]),
        sources=np.asarray([i.source for i in items]),
        weights={e.name: e.weight for e in entries},
    )


def _check_failures(
    failed: dict[str, int], n_files: int, allow_missing: bool, first_error: dict[str, str]
) -> None:
    bad = {name: count for name, count in failed.items() if count > MAX_FAILURE_SHARE * n_files}
    for name, count in failed.items():
        say(f"warning: {name} failed on {count} of {n_files} files (first: {first_error.get(name)})")
    if bad and not allow_missing:
        raise RetrainError(
            f"detectors failed on more than {MAX_FAILURE_SHARE:.0%} of the files: {bad}. The answers so far are "
            "cached: fix the detector and rerun (only the failed files are asked again), or ALLOW_MISSING=1"
        )


def _format_of(classifier: str) -> artifacts.ModelFormat:
    from meta_learner.classifiers import get_classifier

    return get_classifier(classifier).model_format


def _unused_version(root: Path, media: str) -> str:
    version = artifacts.new_version()
    while (root / media / version).exists():  # two runs within one second
        time.sleep(1.0)
        version = artifacts.new_version()
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--media-type", choices=["image", "video"], default="image")
    parser.add_argument(
        "--allow-missing", action="store_true", help="train without detectors that are not ready"
    )
    parser.add_argument(
        "--from-cache", action="store_true", help="make eval: cached features only, no queries"
    )
    parser.add_argument("--no-deploy", action="store_true", help="write the artifact but leave the pointer")
    parser.add_argument("--optimizer", choices=["grid", "optuna"], default="grid")
    parser.add_argument("--trials", type=int, default=20, help="Optuna trials per classifier")
    parser.add_argument(
        "--fit-splits",
        default="val",
        help="patch benchmark only: comma list of splits the stacker learns from",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        help="imported corpus or patch benchmark manifest (default: data/benchmark/corpus/manifest.csv "
        "when it exists, else data/benchmark/manifest.csv)",
    )
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY_PATH)
    parser.add_argument("--concurrency", type=int, default=8, help="files in flight at once")
    parser.add_argument("--artifacts-dir", type=Path, default=paths.ARTIFACTS_DIR)
    parser.add_argument("--reports-dir", type=Path, default=paths.REPORTS_DIR)
    parser.add_argument("--cache-dir", type=Path, default=paths.CACHE_DIR)
    args = parser.parse_args(argv)
    options = RetrainOptions(
        media_type=args.media_type,
        allow_missing=args.allow_missing,
        from_cache=args.from_cache,
        deploy=not args.no_deploy,
        manifest=args.manifest,
        registry=args.registry,
        concurrency=args.concurrency,
        artifacts_dir=args.artifacts_dir,
        reports_dir=args.reports_dir,
        cache_dir=args.cache_dir,
        config=TrainConfig(
            optimizer=args.optimizer,
            trials=args.trials,
            fit_splits=[s.strip() for s in args.fit_splits.split(",") if s.strip()],
        ),
    )
    try:
        outcome = asyncio.run(retrain(options))
    except (RetrainError, TrainingError, ManifestError, artifacts.ArtifactError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(f"\nreport:   {outcome.report}")
    say(f"artifact: {outcome.artifact}" + (" (deployed)" if outcome.deployed else " (not deployed)"))
    verdict = "at least as good as" if outcome.stacking_at_least_as_good_as_all else "NOT better than"
    say(
        f"stacking {outcome.evaluation} log-loss {outcome.stacking_log_loss:.4f}: {verdict} the best single "
        f"detector, voting and averaging (see the report)"
    )
    if outcome.targets_met is not None:
        say(f"issue #12 targets: {'all met' if outcome.targets_met else 'NOT all met'} (see the report)")
    say(f"done in {outcome.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
