"""The video half of ``/detect``: probe and cap, keyframes, fan-out to video and image detectors, fuse.

Steps for one upload (already sniffed as a video and within the byte cap):

1. spool it to a temporary file and read the container header: 400 when it cannot be opened, 413
   when its duration, frame size or frame count is over the caps (``VideoSettings``);
2. decode the keyframes in one front-to-back pass (400 when not a single frame decodes);
3. send the video to the enabled video detectors and every keyframe (PNG) to the enabled image
   detectors, all at once;
4. fuse by the rule in ``gateway/video/fusion.py`` and answer with ``DetectionAnswer.video``.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.attribution import ClassVote, fuse_attribution
from gateway.errors import (
    HardDependencyFailed,
    NoDetectorAvailable,
    NoDetectorForMediaType,
    NoModelSelected,
    UndecodableMedia,
)
from gateway.fusion import FusionContext, FusionStrategy, Vote
from gateway.registry import DetectorEntry, Registry
from gateway.schemas import DetectionAnswer
from gateway.settings import GatewaySettings
from gateway.video.fusion import (
    FUSION_RULE,
    fuse_video,
    keyframe_evidence,
    summarise_keyframes,
    video_detector_evidence,
)
from gateway.video.keyframes import Keyframe, sample_keyframes
from gateway.video.schemas import VideoEvidence
from gateway.video.settings import VideoSettings
from tribunal_sdk.client import DetectorOutcome, DetectorStatus, FanoutClient
from tribunal_sdk.media import sniff
from tribunal_sdk.video import VideoProbe, probe_video

if TYPE_CHECKING:
    from gateway.detection import DetectionOptions


@contextlib.contextmanager
def spooled(data: bytes, suffix: str) -> Iterator[Path]:
    """The upload as a temporary file (OpenCV reads paths), removed afterwards."""
    with tempfile.NamedTemporaryFile(prefix="tribunal-gw-", suffix=f".{suffix}", delete=False) as handle:
        handle.write(data)
    path = Path(handle.name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def inspect_video(path: Path, settings: VideoSettings, n_keyframes: int) -> tuple[VideoProbe, list[Keyframe]]:
    """Header, caps and ``n_keyframes`` keyframes (blocking: run it in a thread).

    At least one frame is always decoded, so a video no detector could read is a 400 here.
    """
    probe = probe_video(path)
    limits = settings.limits()
    limits.check(probe)
    keyframes = sample_keyframes(path, probe, limits, max(1, n_keyframes))
    if not keyframes:
        raise UndecodableMedia("the video holds no decodable frame", code="no_frames")
    return probe, keyframes[:n_keyframes]


class VideoDetection:
    """Runs one video detection; owned by ``DetectionService``."""

    def __init__(
        self,
        settings: GatewaySettings,
        registry: Registry,
        fanout: FanoutClient,
        video_settings: VideoSettings | None = None,
    ):
        self.settings = settings
        self.registry = registry
        self.fanout = fanout
        self.video_settings = video_settings or VideoSettings()

    def select(
        self, models: list[str] | None
    ) -> tuple[list[DetectorEntry], list[DetectorEntry], list[DetectorOutcome], list[str]]:
        """(video detectors, image detectors for the keyframes, skipped, notes)."""
        video = self.registry.for_media_type("video")
        # A detector that handles both media types judges the video itself, not its keyframes.
        image = [e for e in self.registry.for_media_type("image") if e not in video]
        if self.video_settings.video_keyframes == 0:
            image = []
        if not video and not image:
            raise NoDetectorForMediaType(
                "no enabled detector handles video, and none handles images to judge its keyframes"
            )
        if not models:
            return video, image, [], []
        asked_video = [e for e in video if e.name in models]
        asked_image = [e for e in image if e.name in models]
        skipped = [
            DetectorOutcome.skipped(e.name, "not in the request's models")
            for e in (*video, *image)
            if e.name not in models
        ]
        notes = []
        for name in models:
            entry = self.registry.get(name)
            if entry is not None and entry not in video and entry not in image:
                why = "is disabled" if not entry.enabled else "gets no keyframes (TRIBUNAL_VIDEO_KEYFRAMES=0)"
                notes.append(f"{name} was not asked: it {why}")
        if not asked_video and not asked_image:
            raise NoModelSelected(
                "none of the requested models can analyse this video or its keyframes: " + "; ".join(notes),
                extra={"requested": models, "available": [e.name for e in (*video, *image)]},
            )
        return asked_video, asked_image, skipped, notes

    async def detect(
        self,
        data: bytes,
        sha256: str,
        options: DetectionOptions,
        strategy: FusionStrategy,
        threshold: float,
        request_id: str | None,
        started: float,
    ) -> DetectionAnswer:
        """Analyse a video upload already sniffed as one and within the byte cap."""
        video_entries, image_entries, skipped, warnings = self.select(options.models)
        video_format = sniff(data).format
        with spooled(data, video_format) as path:
            n_keyframes = self.video_settings.video_keyframes if image_entries else 0
            probe, keyframes = await asyncio.to_thread(inspect_video, path, self.video_settings, n_keyframes)
        if options.explain:
            warnings.append("explain is not available for videos; no heatmaps were asked for")

        video_call = self.fanout.predict_all(data, "video", video_entries, request_id=request_id)
        frame_calls = [
            self.fanout.predict_all(k.png, "image", image_entries, request_id=request_id) for k in keyframes
        ]
        video_outcomes, *per_frame = await asyncio.gather(video_call, *frame_calls)
        per_detector = {e.name: [frame[i] for frame in per_frame] for i, e in enumerate(image_entries)}
        image_outcomes = [summarise_keyframes(name, outs) for name, outs in per_detector.items() if outs]
        outcomes = [*video_outcomes, *image_outcomes]
        self._require_answers(video_entries + image_entries, outcomes)

        weights = {e.name: e.weight for e in (*video_entries, *image_entries)}

        def votes(group: list[DetectorOutcome]) -> list[Vote]:
            return [
                Vote(o.name, o.prob_fake, weights[o.name])
                for o in group
                if o.status == DetectorStatus.OK and o.prob_fake is not None
            ]

        def context(media_type: str, group: list[DetectorOutcome]) -> FusionContext:
            # Keyframe votes are image-detector scores, so stacking uses the image meta-learner for them.
            return FusionContext(
                media_type=media_type,
                threshold=threshold,
                uncertainty_band=self.settings.uncertainty_band,
                attribution_min_share=self.settings.attribution_min_share,
                absent=tuple(o.name for o in group if o.status != DetectorStatus.OK),
                registered=tuple(e.name for e in self.registry.for_media_type(media_type)),
                class_probs={o.name: o.class_probs for o in group if o.class_probs},
                versions={o.name: o.version for o in group if o.answered and o.version},
                meta_learner_dir=self.settings.meta_learner_dir,
            )

        video_ctx = context("video", video_outcomes)
        fused = await asyncio.to_thread(  # off the event loop, like image fusion (gateway/detection.py)
            fuse_video,
            strategy,
            votes(video_outcomes),
            votes(image_outcomes),
            video_ctx,
            context("image", image_outcomes),
        )
        class_votes = [
            ClassVote(o.name, o.class_probs, weights[o.name])
            for o in outcomes
            if o.status == DetectorStatus.OK and o.class_probs
        ]
        detectors_evidence = [video_detector_evidence(o) for o in video_outcomes]
        answering = [e for e in detectors_evidence if e.status == DetectorStatus.OK.value]
        failed = [o for o in outcomes if o.failed]
        warnings += [f"{o.name} {o.status.value}: {o.error}" for o in failed]
        warnings += fused.warnings + list(fused.result.warnings)
        if not video_entries:
            warnings.append("no video detector was asked: the verdict rests on keyframes judged as stills")
        return DetectionAnswer(
            id=uuid.uuid4().hex,
            sha256=sha256,
            media_type="video",
            verdict=fused.result.verdict,
            score_fake=fused.result.score_fake,
            confidence=fused.result.confidence,
            method=fused.result.method,
            threshold=threshold,
            attribution=fuse_attribution(
                fused.result.score_fake, class_votes, video_ctx.threshold, video_ctx.attribution_min_share
            ),
            detectors=[*outcomes, *skipped],
            degraded=bool(failed),
            missing=[o.name for o in failed],
            warnings=warnings,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
            video=VideoEvidence(
                container={"format": video_format, **probe.as_details()},
                basis=fused.basis,
                fusion_rule=FUSION_RULE,
                video_score=fused.video_score,
                keyframe_score=fused.keyframe_score,
                frames_used=max((e.frames_sampled or 0 for e in answering), default=None),
                faces_used=max((e.faces_used or 0 for e in answering), default=None),
                video_detectors=detectors_evidence,
                keyframes=keyframe_evidence(keyframes, per_frame, weights),
            ),
        )

    @staticmethod
    def _require_answers(asked: list[DetectorEntry], outcomes: list[DetectorOutcome]) -> None:
        """503 when nobody answered or a hard dependency failed (the same rule as for images)."""
        summary = [{"name": o.name, "status": o.status.value, "error": o.error} for o in outcomes]
        if not any(o.answered for o in outcomes):
            listed = ", ".join(f"{o.name} ({o.status.value}: {o.error})" for o in outcomes)
            raise NoDetectorAvailable(
                f"no detector could answer for this video or its keyframes: {listed}",
                extra={"detectors": summary},
            )
        hard = {entry.name for entry in asked if entry.dependency == "hard"}
        broken = [o for o in outcomes if o.name in hard and o.failed]
        if broken:
            listed = ", ".join(f"{o.name} ({o.status.value}: {o.error})" for o in broken)
            raise HardDependencyFailed(
                f"required detector(s) failed: {listed}",
                extra={"failed": [o.name for o in broken], "detectors": summary},
            )
