"""The video plan: the video to the video detectors, its keyframes to the image detectors, all at once.

1. ``gather`` spools the upload to a temporary file and reads the container header: 400 when it cannot
   be opened, 413 when its duration, frame size or frame count is over the caps (``settings.video``);
   then decodes the keyframes in one front-to-back pass (400 when not a single frame decodes);
2. it sends the video to the enabled video detectors and every keyframe (PNG) to the enabled image
   detectors at once; each image detector's keyframe answers become one outcome;
3. ``fuse`` applies the rule in ``gateway/video/fusion.py`` and adds ``DetectionAnswer.video``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.pipeline.fusing import Fusion
from gateway.pipeline.plan import Asked, Fused, Gathered, MediaPlan
from gateway.pipeline.upload import Upload
from gateway.registry import DetectorEntry, Registry
from gateway.video.fusion import (
    FUSION_RULE,
    fuse_video,
    keyframe_evidence,
    summarise_keyframes,
    video_detector_evidence,
)
from gateway.video.inspect import inspect_upload
from gateway.video.keyframes import Keyframe
from gateway.video.schemas import VideoEvidence
from gateway.video.settings import VideoSettings
from tribunal_sdk.client import DetectorOutcome, DetectorStatus, FanoutClient
from tribunal_sdk.media import sha256_hex
from tribunal_sdk.video import VideoProbe


@dataclass
class VideoGathered(Gathered):
    container: str
    probe: VideoProbe
    keyframes: list[Keyframe]
    per_keyframe: list[list[DetectorOutcome]]  # per keyframe, one outcome per image detector asked
    video_outcomes: list[DetectorOutcome]
    keyframe_outcomes: list[DetectorOutcome]  # one per image detector: its keyframes summed up


class VideoPlan(MediaPlan[VideoGathered]):
    media_type = "video"
    subject = "this video or its keyframes"
    nobody_answered = "no detector could answer for this video or its keyframes"

    def __init__(self, registry: Registry, fanout: FanoutClient, settings: VideoSettings):
        self.registry = registry
        self.fanout = fanout
        self.settings = settings

    def groups(self) -> dict[str, list[DetectorEntry]]:
        video = self.registry.for_media_type("video")
        # A detector that handles both media types judges the video itself, not its keyframes.
        keyframes = [e for e in self.registry.for_media_type("image") if e not in video]
        return {"video": video, "keyframes": keyframes if self.settings.keyframes else []}

    def no_detector(self) -> str:
        return "no enabled detector handles video, and none handles images to judge its keyframes"

    def not_in_a_group(self, entry: DetectorEntry) -> str:
        return "gets no keyframes (TRIBUNAL_VIDEO_KEYFRAMES=0)"

    def fingerprint(self, upload: Upload) -> str:
        return sha256_hex(upload.data)

    async def gather(
        self, upload: Upload, asked: Asked, explain: bool, request_id: str | None
    ) -> VideoGathered:
        video_entries, image_entries = asked["video"], asked["keyframes"]
        container = upload.sniffed.format
        n_keyframes = self.settings.keyframes if image_entries else 0
        probe, keyframes = await asyncio.to_thread(
            inspect_upload, upload.data, container, self.settings, n_keyframes
        )
        notes = []
        if explain:
            notes.append("explain is not available for videos; no heatmaps were asked for")

        video_call = self.fanout.predict_all(upload.data, "video", video_entries, request_id=request_id)
        frame_calls = [
            self.fanout.predict_all(k.png, "image", image_entries, request_id=request_id) for k in keyframes
        ]
        video_outcomes, *per_keyframe = await asyncio.gather(video_call, *frame_calls)
        per_detector = {e.name: [frame[i] for frame in per_keyframe] for i, e in enumerate(image_entries)}
        keyframe_outcomes = [summarise_keyframes(name, outs) for name, outs in per_detector.items() if outs]
        return VideoGathered(
            outcomes=[*video_outcomes, *keyframe_outcomes],
            notes=notes,
            container=container,
            probe=probe,
            keyframes=keyframes,
            per_keyframe=per_keyframe,
            video_outcomes=video_outcomes,
            keyframe_outcomes=keyframe_outcomes,
        )

    async def fuse(self, gathered: VideoGathered, fusion: Fusion) -> Fused:
        video, keyframes = gathered.video_outcomes, gathered.keyframe_outcomes
        fused = await fusion.call(
            fuse_video,
            fusion.strategy,
            fusion.votes(video),
            fusion.votes(keyframes),
            fusion.context("video", video),
            # Keyframe votes are image-detector scores, so stacking uses the image meta-learner for them.
            fusion.context("image", keyframes),
        )
        warnings = fused.warnings + list(fused.result.warnings)
        if not video:  # one outcome per video detector asked
            warnings.append("no video detector was asked: the verdict rests on keyframes judged as stills")
        detectors_evidence = [video_detector_evidence(o) for o in video]
        answering = [e for e in detectors_evidence if e.status == DetectorStatus.OK.value]
        evidence = VideoEvidence(
            container={"format": gathered.container, **gathered.probe.as_details()},
            basis=fused.basis,
            fusion_rule=FUSION_RULE,
            video_score=fused.video_score,
            keyframe_score=fused.keyframe_score,
            frames_used=max((e.frames_sampled or 0 for e in answering), default=None),
            faces_used=max((e.faces_used or 0 for e in answering), default=None),
            video_detectors=detectors_evidence,
            keyframes=keyframe_evidence(gathered.keyframes, gathered.per_keyframe, fusion.weights),
        )
        return Fused(fused.result, warnings, evidence)
