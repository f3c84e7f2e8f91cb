"""Stacked ensemble: the deployed meta-learner for the media type (``make retrain``) fuses the scores.

The artifact named by ``<meta_learner_dir>/<media_type>/deployed.json`` is loaded when the gateway starts
(``StackingStrategy.warm_up``, when stacking is the default method; else on first use) and reloaded when
that pointer file changes (its stat is checked at most once a second), so a retrain takes effect without
a restart. Loads run in a background thread and no request waits for a reload: while a new version
loads, the previous one keeps serving. Only the first load is waited for, by the requests that need it
before it is done (in their worker thread: stacking never runs on the event loop). A new version that
fails to load, or whose detectors are not the registry's, is refused with a logged error while the
previous one keeps serving. Without any usable artifact this strategy averages instead and says why in
``method``.

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
    check_detectors,
    deployed_version,
    list_versions,
    load_artifact,
    pointer_path,
    read_manifest,
)
from meta_learner.features import DetectorScore

log = logging.getLogger("gateway.fusion.stacking")

# How often a request may stat the pointer file: cheap enough per request, quick enough for a redeploy.
CHECK_INTERVAL_S = 1.0
_NEVER_SEEN = object()  # a pointer stamp no stat gives, so the first check always loads


class StackingUnavailable(Exception):
    """No meta-learner can be used for this request; the message says why (it ends up in ``method``).

    Outside the TribunalError tree: a fallback signal (stacking answers by averaging), never an error."""


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
        observation = {v.detector: DetectorScore(v.prob_fake, ctx.class_probs.get(v.detector)) for v in votes}
        score = float(self.artifact.predict([observation])[0])
        warnings = self.notes + tuple(self.artifact.version_warnings(ctx.versions))
        return FusionResult(
            score_fake=score,
            verdict=verdict_for(score, ctx.threshold, ctx.uncertainty_band),
            confidence=distance_confidence(score, ctx.threshold),
            method=f"stacking ({ctx.media_type}/{self.version})",
            warnings=warnings,
        )


def _in_a_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="meta-learner-load", daemon=True).start()


class ArtifactWatcher:
    """The deployed artifact of one media type under one directory, reloaded when its pointer changes.

    Loads run in the background (``run_load``, a thread by default): ``current()`` keeps answering with
    the artifact already loaded while a newer one loads, and only the very first load (``preload`` starts
    it early) is ever waited for.
    """

    def __init__(
        self,
        root: Path,
        media_type: str,
        registered: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
        run_load: Callable[[Callable[[], None]], None] = _in_a_thread,
    ):
        self.root = root
        self.media_type = media_type
        self.registered = tuple(registered)
        self._clock = clock
        self._interval = check_interval_s
        self._run_load = run_load
        self._lock = threading.Lock()  # guards the bookkeeping below; never held while loading
        self._checked_at: float | None = None
        self._stamp: object = _NEVER_SEEN
        self._loading = False
        self._first_load = threading.Event()
        # What serves, replaced as one tuple: the artifact, and why the pointed-at version is not it.
        self._serving: tuple[LoadedArtifact | None, str | None] = (None, None)

    def preload(self) -> None:
        """Start loading the deployed artifact, unless that was already started; returns at once."""
        self._check_pointer()

    def current(self) -> DeployedMetaLearner | None:
        """The meta-learner to use; None when nothing is deployed; StackingUnavailable when refused."""
        self._check_pointer()
        self._first_load.wait()
        loaded, problem = self._serving
        if loaded is not None:
            return DeployedMetaLearner(loaded, [problem] if problem else [])
        if problem is not None:
            raise StackingUnavailable(problem)
        return None

    def _check_pointer(self) -> None:
        """Start a load when the pointer changed (its stat is read at most once per interval)."""
        with self._lock:
            now = self._clock()
            if self._loading or (self._checked_at is not None and now - self._checked_at < self._interval):
                return
            self._checked_at = now
            stamp = self._pointer_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            self._loading = True
        self._run_load(self._load)

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = pointer_path(self.root, self.media_type).stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self) -> None:
        try:
            self._serving = self._next_serving()
        finally:
            with self._lock:
                self._loading = False
            self._first_load.set()

    def _next_serving(self) -> tuple[LoadedArtifact | None, str | None]:
        media = self.media_type
        loaded, _ = self._serving
        try:
            version = deployed_version(self.root, media)
            if version is None:
                if loaded is not None:
                    log.warning(
                        "meta-learner pointer for %s removed: stacking falls back to averaging", media
                    )
                return None, None
            if loaded is not None and loaded.version == version:
                return loaded, None
            if self.registered and version in list_versions(self.root, media):
                # A model the registry cannot use is refused before its load (seconds, and memory).
                check_detectors(read_manifest(self.root / media / version), self.registered)
            artifact = load_artifact(self.root, media, version)
        except Exception as exc:  # in the background: whatever went wrong, the previous artifact serves
            why = str(exc) if isinstance(exc, ArtifactError) else f"{type(exc).__name__}: {exc}"
            if loaded is not None:
                problem = (
                    f"the newly deployed meta-learner for {media} was refused ({why}); still serving "
                    f"{media}/{loaded.version}"
                )
            else:
                problem = f"deployed meta-learner for {media} refused: {why}"
            log.error("%s", problem, exc_info=not isinstance(exc, ArtifactError))
            return loaded, problem
        log.info("meta-learner %s/%s loaded (was %s)", media, version, loaded.version if loaded else "none")
        return artifact, None


_WATCHERS: dict[tuple[Path, str, tuple[str, ...]], ArtifactWatcher] = {}
_WATCHERS_LOCK = threading.Lock()


def watcher_for(root: Path, media_type: str, registered: Sequence[str]) -> ArtifactWatcher:
    """The process-wide watcher for this directory, media type and set of registered detectors."""
    key = (root, media_type, tuple(registered))
    with _WATCHERS_LOCK:
        if key not in _WATCHERS:
            _WATCHERS[key] = ArtifactWatcher(root, media_type, registered)
        return _WATCHERS[key]


def _deployed_watcher(ctx: FusionContext) -> ArtifactWatcher:
    root = ctx.meta_learner_dir or paths.ARTIFACTS_DIR
    return watcher_for(root, ctx.media_type, ctx.registered)


def deployed_meta_learner(ctx: FusionContext) -> MetaLearner | None:
    """The default provider: the artifact deployed under ``ctx.meta_learner_dir`` (or the repository's)."""
    return _deployed_watcher(ctx).current()


@register_strategy("stacking")
class StackingStrategy(FusionStrategy):
    """Use the deployed meta-learner for the media type; fall back to weighted averaging without one."""

    blocking = True  # a forward pass of the meta-learner: milliseconds of CPU

    def __init__(self, provider: Callable[[FusionContext], MetaLearner | None] = deployed_meta_learner):
        self.provider = provider

    def warm_up(self, ctx: FusionContext) -> None:
        if self.provider is deployed_meta_learner:
            _deployed_watcher(ctx).preload()

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
