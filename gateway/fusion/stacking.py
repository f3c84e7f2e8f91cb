"""Stacked ensemble: the deployed meta-learner for the media type (``make retrain``) fuses the scores.

The artifact named by ``<meta_learner_dir>/<media_type>/deployed.json`` is loaded on first use and
reloaded when that pointer file changes (its stat is checked at most once a second), so a retrain
takes effect without a restart. A new version that fails to load, or whose detectors are not the
registry's, is refused with a logged error while the previous one keeps serving. Without any usable
artifact this strategy averages instead and says why in ``method``.

A detector that abstained, failed or was not asked is a missing feature (value + indicator), which
the model was trained to handle by random detector dropout. A detector answering with another version
than the one the model was trained on adds a warning to the answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from gateway.fusion.average import AverageStrategy
from gateway.fusion.base import (
    FusionContext,
    FusionResult,
    FusionStrategy,
    Vote,
    distance_confidence,
    register_strategy,
    verdict_for,
)
from meta_learner import paths
from meta_learner.artifacts import (
    ArtifactError,
    LoadedArtifact,
    deployed_version,
    load_artifact,
    pointer_path,
)
from meta_learner.features import DetectorAnswer

log = logging.getLogger("gateway.fusion.stacking")

# How often a request may stat the pointer file: cheap enough per request, quick enough for a redeploy.
CHECK_INTERVAL_S = 1.0


class StackingUnavailable(Exception):
    """No meta-learner can be used for this request; the message says why (it ends up in ``method``)."""


class MetaLearner(Protocol):
    """What stacking needs from a deployed meta-learner."""

    version: str

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult: ...


class DeployedMetaLearner:
    """A loaded artifact as a fusion: features from the votes in the artifact's order, calibrated score."""

    def __init__(self, artifact: LoadedArtifact, notes: Sequence[str] = ()):
        self.artifact = artifact
        self.version = artifact.version
        self.notes = tuple(notes)  # e.g. "a newer version failed to load"

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        observation = {
            v.detector: DetectorAnswer(v.prob_fake, ctx.class_probs.get(v.detector)) for v in votes
        }
        score = float(self.artifact.predict([observation])[0])
        warnings = self.notes + tuple(self.artifact.version_warnings(ctx.versions))
        return FusionResult(
            score_fake=score,
            verdict=verdict_for(score, ctx.threshold, ctx.uncertainty_band),
            confidence=distance_confidence(score, ctx.threshold),
            method=f"stacking ({ctx.media_type}/{self.version})",
            warnings=warnings,
        )


class ArtifactWatcher:
    """The deployed artifact of one media type under one directory, reloaded when its pointer changes."""

    def __init__(
        self,
        root: Path,
        media_type: str,
        registered: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
    ):
        self.root = root
        self.media_type = media_type
        self.registered = tuple(registered)
        self._clock = clock
        self._interval = check_interval_s
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._loaded: LoadedArtifact | None = None
        self._problem: str | None = None  # why the pointed-at version is not the one serving

    def current(self) -> DeployedMetaLearner | None:
        """The meta-learner to use; None when nothing is deployed; StackingUnavailable when refused."""
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._interval:
                self._checked_at = now
                stamp = self._pointer_stamp()
                if stamp != self._stamp:
                    self._stamp = stamp
                    self._reload()
            if self._loaded is not None:
                return DeployedMetaLearner(self._loaded, [self._problem] if self._problem else [])
            if self._problem is not None:
                raise StackingUnavailable(self._problem)
            return None

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = pointer_path(self.root, self.media_type).stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload(self) -> None:
        media = self.media_type
        try:
            version = deployed_version(self.root, media)
            if version is None:
                if self._loaded is not None:
                    log.warning(
                        "meta-learner pointer for %s removed: stacking falls back to averaging", media
                    )
                self._loaded, self._problem = None, None
                return
            if self._loaded is not None and self._loaded.version == version:
                self._problem = None
                return
            artifact = load_artifact(self.root, media, version)
            if self.registered:
                artifact.check_detectors(self.registered)
        except ArtifactError as exc:
            if self._loaded is not None:
                self._problem = (
                    f"the newly deployed meta-learner for {media} was refused ({exc}); still serving "
                    f"{media}/{self._loaded.version}"
                )
            else:
                self._problem = f"deployed meta-learner for {media} refused: {exc}"
            log.error("%s", self._problem)
            return
        previous = self._loaded.version if self._loaded else None
        self._loaded, self._problem = artifact, None
        log.info("meta-learner %s/%s loaded (was %s)", media, version, previous or "none")


_WATCHERS: dict[tuple[Path, str, tuple[str, ...]], ArtifactWatcher] = {}
_WATCHERS_LOCK = threading.Lock()


def watcher_for(root: Path, media_type: str, registered: Sequence[str]) -> ArtifactWatcher:
    """The process-wide watcher for this directory, media type and set of registered detectors."""
    key = (root, media_type, tuple(registered))
    with _WATCHERS_LOCK:
        if key not in _WATCHERS:
            _WATCHERS[key] = ArtifactWatcher(root, media_type, registered)
        return _WATCHERS[key]


def deployed_meta_learner(ctx: FusionContext) -> MetaLearner | None:
    """The default provider: the artifact deployed under ``ctx.meta_learner_dir`` (or the repository's)."""
    root = ctx.meta_learner_dir or paths.ARTIFACTS_DIR
    return watcher_for(root, ctx.media_type, ctx.registered).current()


@register_strategy("stacking")
class StackingStrategy(FusionStrategy):
    """Use the deployed meta-learner for the media type; fall back to weighted averaging without one."""

    def __init__(self, provider: Callable[[FusionContext], MetaLearner | None] = deployed_meta_learner):
        self.provider = provider

    def _learner(self, ctx: FusionContext) -> tuple[MetaLearner | None, str]:
        try:
            learner = self.provider(ctx)
        except StackingUnavailable as exc:
            return None, str(exc)
        return learner, f"no deployed meta-learner for {ctx.media_type}"

    def run(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        learner, why = self._learner(ctx)
        if learner is not None:
            return super().run(votes, ctx) if not votes else learner.fuse(votes, ctx)
        fallback = AverageStrategy().run(votes, ctx)
        why = f"stacking unavailable: {why}"
        if fallback.method != "average":  # the fallback has its own note (e.g. no usable scores)
            why += "; " + fallback.method.removeprefix("average (").removesuffix(")")
        return replace(fallback, method=f"average ({why})")

    def fuse(self, votes: Sequence[Vote], ctx: FusionContext) -> FusionResult:
        learner, _ = self._learner(ctx)
        if learner is None:  # only reached when fuse() is called directly
            return self.run(votes, ctx)
        return learner.fuse(votes, ctx)
