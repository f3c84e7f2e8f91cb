"""``make retrain`` / ``make eval``: build the stacked meta-learner's features, train, report, deploy.

    python -m scripts.retrain --media-type image                    # make retrain MEDIA_TYPE=image
    python -m scripts.retrain --media-type image --allow-missing    # ALLOW_MISSING=1: train without
                                                                    #   the detectors that are not ready
    python -m scripts.retrain --media-type image --optimizer optuna --trials 30
    python -m scripts.retrain --media-type image --from-cache       # make eval: no detector is asked

Retrain checks that every enabled detector for the media type is ready (and names the ones that are
not), sends the benchmark through the gateway's fan-out client (only what the cache lacks), trains,
writes meta_learner/reports/<media>/<version>.md + .json and the artifact, then switches the deployed
pointer; a running gateway picks the new version up within a second, without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import numpy as np
from pydantic import BaseModel

from gateway.fanout import FanoutClient
from gateway.registry import DEFAULT_REGISTRY_PATH, DetectorEntry, load_registry
from meta_learner import artifacts, paths
from meta_learner.dataset import BenchmarkItem, read_manifest, training_data_hash
from meta_learner.features import FeatureSpec
from meta_learner.query import FeatureCache, Fingerprint, collect, probe_all, read_observations
from meta_learner.report import headline, write_report
from meta_learner.train import TrainConfig, TrainingData, TrainingError, train
from tribunal_sdk.media import file_sha256

# A ready detector failing on more than this share of files makes the features untrustworthy.
MAX_FAILURE_SHARE = 0.10


class RetrainError(RuntimeError):
    """Retraining stopped; the message says why and what to do."""


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
    concurrency: int = 8
    progress: bool = True
    config: TrainConfig = TrainConfig()


class RetrainOutcome(BaseModel):
    version: str
    report: Path
    artifact: Path
    deployed: bool
    stacking_log_loss: float
    stacking_at_least_as_good_as_all: bool
    seconds: float


def say(message: str) -> None:
    print(message, flush=True)


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
    items = read_manifest(options.manifest or paths.DEFAULT_MANIFESTS[media])
    say(f"{len(items)} {media} files, detectors: {', '.join(e.name for e in entries)}")

    with FeatureCache(options.cache_dir / f"{media}.sqlite") as cache:
        collect_summary: dict[str, object] = {}
        if options.from_cache:
            fingerprints = cache.latest_collection(media)
            if fingerprints is None:
                raise RetrainError(
                    f"no cached {media} features yet: run make retrain MEDIA_TYPE={media} first"
                )
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
    result = train(data, options.config, progress=options.progress)

    version = _unused_version(options.artifacts_dir, media)
    by_name = {f.name: f for f in fingerprints}
    context = {
        "detectors": {e.name: by_name[e.name].key if e.name in by_name else "not ready" for e in entries},
        "manifest": str(options.manifest or paths.DEFAULT_MANIFESTS[media]),
        "queries": collect_summary or "none (from cache)",
        "command": f"make {'eval' if options.from_cache else 'retrain'} MEDIA_TYPE={media}",
    }
    report_md, _ = write_report(options.reports_dir, version, result, context)
    manifest = artifacts.ArtifactManifest(
        version=version,
        media_type=media,
        created_at=datetime.now(UTC),
        classifier=result.winner,
        params=result.params,
        model_format=_format_of(result.winner),
        model_file="",
        model_sha256="",
        features=spec.names,
        spec=spec,
        detector_versions={e.name: by_name[e.name].version if e.name in by_name else None for e in entries},
        detector_fingerprints={e.name: by_name[e.name].key if e.name in by_name else None for e in entries},
        calibrator=result.calibrator,
        training_data_hash=training_data_hash(items, shas, {f.name: f.key for f in fingerprints}),
        metrics={
            "test": result.stacking_test.model_dump(),
            "cv_log_loss": result.stacking_val_cv_log_loss,
            "headline": headline(result),
        },
        config=result.config.model_dump(),
    )
    artifact = artifacts.save_artifact(options.artifacts_dir, manifest, result.model)
    if options.deploy:
        artifacts.deploy(options.artifacts_dir, media, version)
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
    parser.add_argument("--fit-splits", default="val", help="comma list of splits the stacker learns from")
    parser.add_argument("--manifest", type=Path, help="benchmark manifest (default: data/benchmark/...)")
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
    except (RetrainError, TrainingError, artifacts.ArtifactError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(f"\nreport:   {outcome.report}")
    say(f"artifact: {outcome.artifact}" + (" (deployed)" if outcome.deployed else " (not deployed)"))
    verdict = "at least as good as" if outcome.stacking_at_least_as_good_as_all else "NOT better than"
    say(
        f"stacking test log-loss {outcome.stacking_log_loss:.4f}: {verdict} the best single detector, "
        f"voting and averaging (see the report)"
    )
    say(f"done in {outcome.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
