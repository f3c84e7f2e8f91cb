"""Drift: do the images coming in still score the way the training images did?

A new generator, camera app or re-encoding pipeline shows up first as a change in the distribution of the
detectors' scores, long before anyone labels a mistake. The gateway keeps, per image detector and per
fusion method, the last ``drift_window`` live scores and compares them with the *reference*: how the same
detector (or fusion) scored the training corpus out-of-fold.

The statistic is the Population Stability Index over the reference's deciles (docs/operations.md says why
PSI and not a KS statistic)::

    PSI = Σᵢ (aᵢ - eᵢ) · ln(aᵢ / eᵢ)     aᵢ, eᵢ: the live and reference shares of bin i

The bins are quantile bins of the reference (``drift_bins`` of them, about equal reference mass each; a
point mass keeps its own bin), the shares are smoothed by half a count so an empty bin stays finite. A
stream is ``insufficient_data`` until its window holds ``drift_min_window`` scores (or while it has no
reference), then ``drifted`` while PSI >= ``drift_threshold``, else ``ok``. Beside the scores each
detector's last ``drift_window`` calls give its abstention and error rates.

Where the reference comes from, per stream:

1. ``reference.json`` of the deployed meta-learner for images (``make retrain`` writes it with the
   artifact: the detectors' out-of-fold answers and every fusion's out-of-fold score on the corpus);
2. else the detector's own ``detectors/<package>/weights/oof_answers.json`` (its train.py writes it);
   without an artifact reference the fused references are computed from those files too, with the
   gateway's own fusions (``average``: the weighted mean of the detectors' out-of-fold P(fake)). Stacking
   then has no reference: its out-of-fold scores exist only at retrain time.

A redeployed meta-learner's reference is picked up without a restart (the pointer is checked at most once
a second when the state is read); the live windows are kept. Only images are watched: no video detector
publishes out-of-fold answers.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.fusion import FusionContext, Vote, get_strategy
from gateway.registry import Registry
from gateway.schemas import DetectionAnswer
from gateway.settings import GatewaySettings
from meta_learner.artifacts import (
    ArtifactError,
    ScoreHistogram,
    ScoreReference,
    deployed_version,
    load_reference,
    score_bin,
)
from tribunal_home import REPO_ROOT
from tribunal_sdk.client import DetectorStatus
from tribunal_sdk.oof_format import OOF_ANSWERS, OOF_FORMAT

log = logging.getLogger("gateway.drift")

MEDIA_TYPE = "image"
FUSED_PREFIX = "fused:"  # a fusion's stream is named fused:<method>
# Half a count added to every bin of both sides: an empty bin gives a large but finite term.
SMOOTHING = 0.5
RELOAD_INTERVAL_S = 1.0
_FAILED = {DetectorStatus.TIMEOUT, DetectorStatus.ERROR, DetectorStatus.UNAVAILABLE}

State = Literal["ok", "drifted", "insufficient_data"]


# The statistic --------------------------------------------------------------------------------------


def quantile_bins(histogram: ScoreHistogram, bins: int) -> list[int]:
    """Map each fine bin of ``histogram`` to one of at most ``bins`` coarse bins of about equal mass.

    A fine bin goes to the quantile its middle falls in and is never split, so a point mass (e.g. many
    scores of exactly 0) is one coarse bin however heavy. An empty fine bin joins the bin before it, so
    every coarse bin holds reference mass.
    """
    total = histogram.size
    target = total / bins if total else 1.0
    quantile: list[int | None] = []
    below = 0
    for count in histogram.counts:
        quantile.append(min(int((below + count / 2) / target), bins - 1) if count else None)
        below += count
    first = next((q for q in quantile if q is not None), 0)
    filled, last = [], first
    for q in quantile:
        last = q if q is not None else last
        filled.append(last)
    number = {q: i for i, q in enumerate(sorted(set(filled)))}
    return [number[q] for q in filled]


def psi(live: Sequence[int], reference: Sequence[int]) -> float:
    """Population Stability Index of ``live`` against ``reference`` counts over the same bins."""
    k, n, m = len(live), sum(live), sum(reference)
    total = 0.0
    for observed, expected in zip(live, reference, strict=True):
        a = (observed + SMOOTHING) / (n + SMOOTHING * k)
        e = (expected + SMOOTHING) / (m + SMOOTHING * k)
        total += (a - e) * math.log(a / e)
    return total


@dataclass(frozen=True)
class StreamReference:
    """One stream's reference, binned for the statistic."""

    histogram: ScoreHistogram
    source: str
    groups: list[int]  # fine bin -> coarse bin

    @classmethod
    def of(cls, histogram: ScoreHistogram, source: str, bins: int) -> StreamReference:
        return cls(histogram, source, quantile_bins(histogram, bins))

    @property
    def size(self) -> int:
        return self.histogram.size

    @property
    def coarse_counts(self) -> list[int]:
        return self.bin_counts(self.histogram.counts)

    def bin_counts(self, fine_counts: Iterable[int]) -> list[int]:
        counts = [0] * (self.groups[-1] + 1)
        for group, count in zip(self.groups, fine_counts, strict=True):
            counts[group] += count
        return counts

    def live_counts(self, scores: Iterable[float]) -> list[int]:
        fine = [0] * len(self.groups)
        for score in scores:
            fine[score_bin(score, len(self.groups))] += 1
        return self.bin_counts(fine)

    @property
    def mean(self) -> float | None:
        counts, n = self.histogram.counts, self.size
        if not n:
            return None
        return sum((i + 0.5) / len(counts) * c for i, c in enumerate(counts)) / n

    @property
    def abstention_rate(self) -> float | None:
        asked = self.size + self.histogram.abstained
        return self.histogram.abstained / asked if asked else None


# What GET /stats/drift answers ------------------------------------------------------------------------


class StreamDrift(BaseModel):
    """One score stream: an image detector's P(fake), or a fusion method's fused score."""

    name: str = Field(description="the detector, or fused:<method> for a fusion's score")
    kind: Literal["detector", "fused"]
    state: State
    reason: str = Field(description="the state in a sentence")
    statistic: float | None = Field(
        description="PSI of the window against the reference; null without a verdict"
    )
    threshold: float
    window_size: int = Field(description="scores in the window")
    min_window: int
    reference_size: int = Field(description="scores in the reference (0: none)")
    reference_source: str | None
    window_mean: float | None
    reference_mean: float | None
    calls: int | None = Field(description="detector calls in its window of calls (detectors only)")
    abstention_rate: float | None = Field(description="share of those calls it abstained on")
    error_rate: float | None = Field(
        description="share of those calls that timed out, failed or found it unavailable"
    )
    reference_abstention_rate: float | None


class DriftReport(BaseModel):
    """GET /stats/drift: every watched stream, drifted ones named in ``drifted``."""

    media_type: Literal["image"] = MEDIA_TYPE
    statistic: Literal["psi"] = "psi"
    state: State = Field(
        description="drifted if any stream drifted, ok if any has a verdict, else insufficient_data"
    )
    drifted: list[str]
    threshold: float
    window: int = Field(description="scores (and calls) kept per stream")
    min_window: int = Field(description="scores a stream needs before any verdict")
    bins: int
    reference: str = Field(description="where the references came from")
    detectors: list[StreamDrift]
    fused: list[StreamDrift]


# The monitor ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftSettings:
    window: int = 500
    min_window: int = 200
    threshold: float = 0.25
    bins: int = 10

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> DriftSettings:
        return cls(
            window=settings.drift_window,
            min_window=settings.drift_min_window,
            threshold=settings.drift_threshold,
            bins=settings.drift_bins,
        )


@dataclass(frozen=True)
class References:
    """Every stream's reference (a stream missing here has none) and a summary of where they came from."""

    detectors: dict[str, StreamReference]
    fused: dict[str, StreamReference]
    origin: str
    version: str | None = None  # the deployed meta-learner whose reference.json was read


class _Stream:
    def __init__(self, window: int) -> None:
        self.scores: deque[float] = deque(maxlen=window)
        self.calls: deque[DetectorStatus] = deque(maxlen=window)


class DriftMonitor:
    """Rolling windows of live scores, compared with their references. Safe to call from any thread."""

    def __init__(
        self,
        settings: DriftSettings,
        detectors: Sequence[str],
        references: References,
        default_method: str = "average",
        voting_threshold: float = 0.5,
        reload: Callable[[References], References | None] | None = None,
    ) -> None:
        self.settings = settings
        self.detectors = list(detectors)
        self.references = references
        self.default_method = default_method
        self.voting_threshold = voting_threshold
        self._reload = reload  # a newer References than the one given, or None when nothing changed
        self._next_reload = 0.0
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {name: _Stream(settings.window) for name in self.detectors}

    # Feeding ---------------------------------------------------------------------------------------

    def observe(self, answer: DetectionAnswer) -> None:
        """Take one detection answer: each detector's outcome, and the fused score when it is comparable
        (an image, every detector asked, and for voting the default threshold)."""
        if answer.media_type != MEDIA_TYPE:
            return
        subset = False
        for outcome in answer.detectors:
            if outcome.status == DetectorStatus.SKIPPED:
                subset = True
                continue
            self.observe_detector(outcome.name, outcome.status, outcome.prob_fake)
        method = answer.method.split(" ", 1)[0]
        if subset or answer.score_fake is None:
            return
        if method == "voting" and not math.isclose(answer.threshold, self.voting_threshold):
            return
        self.observe_fused(method, answer.score_fake)

    def observe_detector(self, name: str, status: DetectorStatus | str, prob_fake: float | None) -> None:
        status = DetectorStatus(status)
        if status == DetectorStatus.SKIPPED:
            return
        with self._lock:
            stream = self._streams.get(name)
            if stream is None:  # not an enabled image detector (e.g. a video one)
                return
            stream.calls.append(status)
            if status == DetectorStatus.OK and prob_fake is not None:
                stream.scores.append(float(prob_fake))

    def observe_fused(self, method: str, score: float) -> None:
        with self._lock:
            stream = self._streams.get(FUSED_PREFIX + method)
            if stream is None:
                stream = self._streams[FUSED_PREFIX + method] = _Stream(self.settings.window)
            stream.scores.append(float(score))

    # Reading ---------------------------------------------------------------------------------------

    def live_scores(self) -> dict[str, list[float]]:
        """A copy of each stream's live window of scores (the Stats page draws them against the reference)."""
        with self._lock:
            return {name: list(stream.scores) for name, stream in self._streams.items()}

    def report(self) -> DriftReport:
        self._maybe_reload()
        settings, references = self.settings, self.references
        with self._lock:
            windows = {name: (list(s.scores), list(s.calls)) for name, s in self._streams.items()}
        detectors = [
            self._stream(name, "detector", *windows[name], references.detectors.get(name))
            for name in self.detectors
        ]
        methods = sorted(
            {FUSED_PREFIX + self.default_method}
            | {FUSED_PREFIX + m for m in references.fused}
            | {name for name in windows if name.startswith(FUSED_PREFIX)}
        )
        fused = [
            self._stream(
                name, "fused", *windows.get(name, ([], [])), references.fused.get(name[len(FUSED_PREFIX) :])
            )
            for name in methods
        ]
        # A fusion nobody uses (not the default, nothing seen) would only say "insufficient data" forever.
        fused = [f for f in fused if f.window_size or f.name == FUSED_PREFIX + self.default_method]
        streams = [*detectors, *fused]
        drifted = [s.name for s in streams if s.state == "drifted"]
        state: State = (
            "drifted" if drifted else "ok" if any(s.state == "ok" for s in streams) else "insufficient_data"
        )
        return DriftReport(
            state=state,
            drifted=drifted,
            threshold=settings.threshold,
            window=settings.window,
            min_window=settings.min_window,
            bins=settings.bins,
            reference=references.origin,
            detectors=detectors,
            fused=fused,
        )

    def _stream(
        self,
        name: str,
        kind: Literal["detector", "fused"],
        scores: list[float],
        calls: list[DetectorStatus],
        reference: StreamReference | None,
    ) -> StreamDrift:
        settings = self.settings
        n = len(scores)
        statistic: float | None = None
        if reference is None or reference.size == 0:
            state: State = "insufficient_data"
            reason = "no reference distribution for it (see docs/operations.md, Drift)"
        elif n < settings.min_window:
            state = "insufficient_data"
            reason = f"{n} of the {settings.min_window} scores needed before a verdict"
        else:
            statistic = psi(reference.live_counts(scores), reference.coarse_counts)
            state = "drifted" if statistic >= settings.threshold else "ok"
            relation = "at or over" if state == "drifted" else "under"
            reason = (
                f"PSI {statistic:.3f} {relation} {settings.threshold:g} over the last {n} scores "
                f"(mean {sum(scores) / n:.2f}, training {reference.mean:.2f})"
            )
        detector = kind == "detector"
        return StreamDrift(
            name=name,
            kind=kind,
            state=state,
            reason=reason,
            statistic=statistic,
            threshold=settings.threshold,
            window_size=n,
            min_window=settings.min_window,
            reference_size=reference.size if reference else 0,
            reference_source=reference.source if reference else None,
            window_mean=sum(scores) / n if n else None,
            reference_mean=reference.mean if reference else None,
            calls=len(calls) if detector else None,
            abstention_rate=_share(calls, {DetectorStatus.ABSTAINED}) if detector else None,
            error_rate=_share(calls, _FAILED) if detector else None,
            reference_abstention_rate=reference.abstention_rate if reference and detector else None,
        )

    def _maybe_reload(self) -> None:
        if self._reload is None or time.monotonic() < self._next_reload:
            return
        self._next_reload = time.monotonic() + RELOAD_INTERVAL_S
        try:
            newer = self._reload(self.references)
        except Exception:  # a broken new artifact must not take the drift view down
            log.exception("reloading the drift reference failed; keeping the previous one")
            return
        if newer is not None:
            log.info("drift reference: %s", newer.origin)
            self.references = newer


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _share(calls: list[DetectorStatus], which: set[DetectorStatus]) -> float | None:
    return sum(c in which for c in calls) / len(calls) if calls else None


# Loading the references ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OofScores:
    """One detector's out-of-fold answers file: P(fake) per image sha256 (None: it abstained)."""

    path: Path
    scores: dict[str, float | None]


def read_oof_scores(path: Path, detector: str, package: str) -> OofScores | None:
    """The scores in ``path`` (sdk/tribunal_sdk/oof_format.py), or None with a logged reason when it is
    missing or unreadable. Only the scores are read: which weights and corpus they belong to is make
    retrain's business (meta_learner/oof.py)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("drift: cannot read %s: %s", path, exc)
        return None
    try:
        if data["format"] != OOF_FORMAT or data["detector"] not in (detector, package):
            log.warning("drift: %s is not %s's %s file; ignored", path, detector, OOF_FORMAT)
            return None
        scores = {}
        for answer in data["answers"]:
            p = answer["prob_fake"]
            scores[str(answer["sha256"])] = None if p is None else min(max(float(p), 0.0), 1.0)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("drift: %s is malformed (%s); ignored", path, exc)
        return None
    return OofScores(path, scores)


def fused_from_oof(
    files: Mapping[str, OofScores],
    weights: Mapping[str, float],
    methods: Sequence[str],
    threshold: float,
) -> dict[str, ScoreHistogram]:
    """Each fusion's score on every image some detector scored, by the gateway's own fusion strategies
    over the detectors' out-of-fold P(fake) (``average``: their weighted mean)."""
    images = sorted({sha for f in files.values() for sha, p in f.scores.items() if p is not None})
    ctx = FusionContext(media_type=MEDIA_TYPE, threshold=threshold)
    result = {}
    for method in methods:
        strategy = get_strategy(method)
        scores = []
        for sha in images:
            votes = [
                Vote(name, p, weights.get(name, 1.0))
                for name, f in files.items()
                if (p := f.scores.get(sha)) is not None
            ]
            scores.append(strategy.run(votes, ctx).score_fake)
        result[method] = ScoreHistogram.of(scores)
    return result


# Fusions whose reference can be rebuilt from the detectors' answers alone (stacking needs retrain's).
OOF_FUSIONS = ("average", "voting")


class ReferenceLoader:
    """Builds the references for the registry's enabled image detectors (see the module docstring)."""

    def __init__(self, settings: GatewaySettings, registry: Registry, bins: int) -> None:
        self.root = settings.meta_learner_dir
        self.detectors_dir = settings.drift_detectors_dir
        self.entries = registry.for_media_type(MEDIA_TYPE)
        self.threshold = settings.threshold
        self.bins = bins

    def load(self) -> References:
        version = None
        artifact: ScoreReference | None = None
        try:
            version = deployed_version(self.root, MEDIA_TYPE)
            if version is not None:
                artifact = load_reference(self.root, MEDIA_TYPE, version)
        except ArtifactError as exc:
            log.warning("drift: no reference from the deployed meta-learner: %s", exc)
        where = f"meta-learner {MEDIA_TYPE}/{version} (reference.json)"
        detectors: dict[str, StreamReference] = {}
        fused: dict[str, StreamReference] = {}
        if artifact is not None:
            source = f"{where}: {artifact.source}"
            for entry in self.entries:
                if entry.name in artifact.detectors:
                    detectors[entry.name] = StreamReference.of(
                        artifact.detectors[entry.name], source, self.bins
                    )
            fused = {m: StreamReference.of(h, source, self.bins) for m, h in artifact.fused.items()}
        files = {}
        for entry in self.entries:
            if entry.name in detectors:
                continue
            oof = read_oof_scores(
                self.detectors_dir / entry.package / "weights" / OOF_ANSWERS, entry.name, entry.package
            )
            if oof is not None:
                files[entry.name] = oof
                histogram = ScoreHistogram.of(oof.scores.values())
                detectors[entry.name] = StreamReference.of(histogram, _shown(oof.path), self.bins)
        if artifact is None and files:
            weights = {e.name: e.weight for e in self.entries}
            source = f"{', '.join(sorted(files))} out-of-fold answers, fused by the gateway"
            fused = {
                m: StreamReference.of(h, source, self.bins)
                for m, h in fused_from_oof(files, weights, OOF_FUSIONS, self.threshold).items()
            }
        parts = []
        if artifact is not None:
            parts.append(where)
        if files:
            parts.append(f"out-of-fold answers of {', '.join(sorted(files))} ({_shown(self.detectors_dir)})")
        missing = [e.name for e in self.entries if e.name not in detectors]
        if missing:
            parts.append(f"none for {', '.join(missing)}")
        return References(detectors, fused, "; ".join(parts) or "none", version)

    def reload(self, current: References) -> References | None:
        """A new References when the deployed meta-learner changed since ``current``, else None."""
        try:
            version = deployed_version(self.root, MEDIA_TYPE)
        except ArtifactError:
            return None
        return None if version == current.version else self.load()


def drift_monitor(settings: GatewaySettings, registry: Registry) -> DriftMonitor:
    """The gateway's monitor: references loaded now, reloaded when the deployed meta-learner changes."""
    config = DriftSettings.from_settings(settings)
    loader = ReferenceLoader(settings, registry, config.bins)
    references = loader.load()
    log.info("drift reference: %s", references.origin)
    return DriftMonitor(
        config,
        [e.name for e in registry.for_media_type(MEDIA_TYPE)],
        references,
        default_method=settings.default_method,
        voting_threshold=settings.threshold,
        reload=loader.reload,
    )


class WatchedDetections:
    """The detection service with every answer also shown to the drift monitor (wired in gateway/app.py).

    Everything but ``detect`` is the service's own."""

    def __init__(self, service: Any, monitor: DriftMonitor) -> None:
        self._service = service
        self.monitor = monitor

    async def detect(self, data: bytes, options: Any, request_id: str | None = None) -> DetectionAnswer:
        answer = await self._service.detect(data, options, request_id=request_id)
        try:
            self.monitor.observe(answer)
        except Exception:  # watching must never cost a user their answer
            log.exception("drift: could not observe an answer")
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)
