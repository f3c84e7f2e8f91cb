"""The detection use-case: validate an upload, ask the right detectors, fuse, answer.

Transport-free: the HTTP routes and (later) the CLI call ``DetectionService.detect`` with bytes.

The gateway never holds an image's pixels: it reads the type, size and pixel count from the headers and
checks that the image decodes in bounded memory (``tribunal_sdk.media.verify_image``). Each image
detector does decode it, at full resolution, so the gateway admits images through a memory budget
weighted by that decoded size (``TRIBUNAL_MEMORY_BUDGET_MB``): a burst of huge images queues here
briefly or is refused with 503 + Retry-After, once for the whole stack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from gateway.attribution import ClassVote, fuse_attribution
from gateway.errors import (
    HardDependencyFailed,
    MalformedRequest,
    NoDetectorAvailable,
    NoDetectorForMediaType,
    NoModelSelected,
    UnknownModels,
)
from gateway.fusion import FusionContext, FusionStrategy, Vote, get_strategy
from gateway.registry import DetectorEntry, Registry
from gateway.schemas import DetectionAnswer
from gateway.settings import GatewaySettings
from gateway.video.service import VideoDetection
from tribunal_sdk.client import DetectorOutcome, DetectorStatus, FanoutClient
from tribunal_sdk.media import ImageHeader, probe_image, sha256_hex, sniff, verify_image
from tribunal_sdk.memory import MemoryBudget, MemorySettings, release_after, tune_allocator


@dataclass(frozen=True)
class DetectionOptions:
    """The per-request knobs of /detect and /predict; None means "use the gateway default"."""

    method: str | None = None
    models: list[str] | None = None
    threshold: float | None = None
    explain: bool = False
    claimed_media_type: str | None = None  # /predict's media_type: checked, never trusted


class DetectionService:
    """Runs one detection: the gateway's core, independent of HTTP."""

    def __init__(
        self,
        settings: GatewaySettings,
        registry: Registry,
        fanout: FanoutClient,
        memory: MemoryBudget | None = None,
    ):
        self.settings = settings
        self.registry = registry
        self.fanout = fanout
        self.video = VideoDetection(settings, registry, fanout)
        tune_allocator()
        self.memory = memory or MemorySettings().budget(name="gateway")

    async def detect(
        self, data: bytes, options: DetectionOptions, request_id: str | None = None
    ) -> DetectionAnswer:
        """Analyse ``data``. Raises a TribunalError (4xx/503) when there is no answer to give."""
        started = time.perf_counter()
        # Cheap request checks first, so a bad option is reported before any decoding work.
        strategy = get_strategy(options.method or self.settings.default_method)
        threshold = self.settings.threshold if options.threshold is None else options.threshold
        if not 0 < threshold < 1:
            raise MalformedRequest(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
        if options.models:
            unknown = [name for name in options.models if self.registry.get(name) is None]
            if unknown:
                raise UnknownModels(unknown, self.registry.names)

        header = await self._check_media(data, options.claimed_media_type)
        if header is None:
            # Its own path: caps on duration, keyframes to the image detectors (gateway/video/).
            sha256 = await asyncio.to_thread(sha256_hex, data)
            return await self.video.detect(data, sha256, options, strategy, threshold, request_id, started)
        # Every image detector decodes its own full-resolution copy while it works on the request.
        weight = header.decoded_bytes + len(data)
        try:
            async with self.memory.hold(weight):
                sha256 = await asyncio.to_thread(self._verified_sha256, data)
                return await self._detect_image(
                    data, sha256, options, strategy, threshold, request_id, started
                )
        finally:
            await release_after(self.memory, weight)

    async def _detect_image(
        self,
        data: bytes,
        sha256: str,
        options: DetectionOptions,
        strategy: FusionStrategy,
        threshold: float,
        request_id: str | None,
        started: float,
    ) -> DetectionAnswer:
        media_type = "image"
        asked, skipped, warnings = self._select(media_type, options.models)

        outcomes = await self.fanout.predict_all(
            data, media_type, asked, explain=options.explain, request_id=request_id
        )
        self._require_answers(media_type, asked, outcomes)

        by_name = {entry.name: entry for entry in asked}
        ok = [o for o in outcomes if o.status == DetectorStatus.OK and o.prob_fake is not None]
        votes = [Vote(o.name, o.prob_fake, by_name[o.name].weight) for o in ok]
        ctx = FusionContext(
            media_type=media_type,
            threshold=threshold,
            uncertainty_band=self.settings.uncertainty_band,
            attribution_min_share=self.settings.attribution_min_share,
            absent=tuple(o.name for o in outcomes if o.status != DetectorStatus.OK),
            registered=tuple(entry.name for entry in self.registry.for_media_type(media_type)),
            class_probs={o.name: o.class_probs for o in ok if o.class_probs},
            versions={o.name: o.version for o in outcomes if o.answered and o.version},
            meta_learner_dir=self.settings.meta_learner_dir,
        )
        # Off the event loop: stacking may (re)load its meta-learner from disk (seconds, on the first
        # request after a start or a redeploy), and /health and every other request must not wait.
        fused = await asyncio.to_thread(strategy.run, votes, ctx)
        class_votes = [ClassVote(o.name, o.class_probs, by_name[o.name].weight) for o in ok if o.class_probs]
        attribution = fuse_attribution(
            fused.score_fake, class_votes, ctx.threshold, ctx.attribution_min_share
        )

        failed = [o for o in outcomes if o.failed]
        warnings += [f"{o.name} {o.status.value}: {o.error}" for o in failed]
        warnings += list(fused.warnings)
        return DetectionAnswer(
            id=uuid.uuid4().hex,
            sha256=sha256,
            media_type=media_type,
            verdict=fused.verdict,
            score_fake=fused.score_fake,
            confidence=fused.confidence,
            method=fused.method,
            threshold=threshold,
            attribution=attribution,
            detectors=[*outcomes, *skipped],
            degraded=bool(failed),
            missing=[o.name for o in failed],
            warnings=warnings,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    async def _check_media(self, data: bytes, claimed: str | None) -> ImageHeader | None:
        """Byte cap, sniff and, for an image, its headers and pixel cap: 413/415/422 before any decoding.
        Returns the image's header, or None for a video (decoded by the video detectors themselves)."""
        limits = self.settings.media_limits
        limits.check_size(len(data))
        sniffed = sniff(data)
        if claimed is not None and claimed != sniffed.media_type:
            raise MalformedRequest(
                f"media_type says {claimed!r} but the bytes are a {sniffed.format} {sniffed.media_type}",
                code="media_type_mismatch",
            )
        if sniffed.media_type != "image":
            return None
        return await asyncio.to_thread(probe_image, data, limits)

    def _verified_sha256(self, data: bytes) -> str:
        """400 unless the image decodes, checked without holding its pixels; then its sha256."""
        verify_image(data, self.settings.media_limits)
        return sha256_hex(data)

    def _select(
        self, media_type: str, models: list[str] | None
    ) -> tuple[list[DetectorEntry], list[DetectorOutcome], list[str]]:
        """Which enabled detectors to ask, which to report as skipped, and notes about the filter."""
        candidates = self.registry.for_media_type(media_type)
        if not candidates:
            handled = ", ".join(self.registry.media_types()) or "nothing (no detector is enabled)"
            raise NoDetectorForMediaType(
                f"no enabled detector handles {media_type}; the enabled detectors handle: {handled}"
            )
        if not models:
            return candidates, [], []
        asked = [entry for entry in candidates if entry.name in models]
        skipped = [
            DetectorOutcome.skipped(entry.name, "not in the request's models")
            for entry in candidates
            if entry not in asked
        ]
        notes = []
        for name in models:
            entry = self.registry.get(name)
            if entry is not None and entry not in candidates:
                why = "is disabled" if not entry.enabled else f"handles {', '.join(entry.media_types)} only"
                notes.append(f"{name} was not asked: it {why}")
        if not asked:
            raise NoModelSelected(
                f"none of the requested models can analyse this {media_type}: " + "; ".join(notes),
                extra={"requested": models, "available": [entry.name for entry in candidates]},
            )
        return asked, skipped, notes

    @staticmethod
    def _require_answers(
        media_type: str, asked: list[DetectorEntry], outcomes: list[DetectorOutcome]
    ) -> None:
        """503 when nobody answered, or when a hard dependency failed; the body names each detector."""
        summary = [{"name": o.name, "status": o.status.value, "error": o.error} for o in outcomes]
        if not any(o.answered for o in outcomes):
            listed = ", ".join(f"{o.name} ({o.status.value}: {o.error})" for o in outcomes)
            raise NoDetectorAvailable(
                f"no detector for {media_type} could answer: {listed}", extra={"detectors": summary}
            )
        hard = {entry.name for entry in asked if entry.dependency == "hard"}
        broken = [o for o in outcomes if o.name in hard and o.failed]
        if broken:
            listed = ", ".join(f"{o.name} ({o.status.value}: {o.error})" for o in broken)
            raise HardDependencyFailed(
                f"required detector(s) failed: {listed}",
                extra={"failed": [o.name for o in broken], "detectors": summary},
            )
