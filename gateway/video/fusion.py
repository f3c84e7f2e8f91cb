"""How video-detector and keyframe evidence combine into one verdict.

The rule (also sent in every answer as ``video.fusion_rule``):

1. Video detectors judge the video itself (its faces, its motion); their usable scores are fused with
   the request's strategy, and when at least one gave a score **that is the verdict**.
2. Each image detector scored every keyframe; its mean over the keyframes it scored is its one vote.
   These votes are fused the same way and always reported, but they **decide only when no video
   detector gave a score** (all abstained, e.g. no face, or failed).
3. Abstentions are left out everywhere, never read as 0.5; nobody scoring gives "uncertain".

Why not average the two: they answer different questions. A face-swap model says nothing about a
fully generated scene and an image model trained on stills says little about a swapped face; averaging
would let either one dilute the other's evidence. When a decisive keyframe score points the other way
than the verdict, the answer says so in a warning instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.fusion import FusionContext, FusionResult, FusionStrategy, Vote
from gateway.fusion.base import verdict_for
from gateway.video.keyframes import Keyframe
from gateway.video.schemas import Basis, KeyframeEvidence, KeyframeResult, VideoDetectorEvidence
from tribunal_sdk.client import DetectorOutcome, DetectorStatus

FUSION_RULE = (
    "verdict = the video detectors' fused score when any gave one; otherwise the image detectors' "
    "keyframe scores (each detector's mean over the keyframes it scored) fused the same way; "
    "abstentions never count as 0.5"
)


def summarise_keyframes(name: str, outcomes: Sequence[DetectorOutcome]) -> DetectorOutcome:
    """One image detector's answers on all keyframes as one outcome (its entry in ``detectors``).

    ok with the mean score when it scored any keyframe; abstained when it only abstained; otherwise
    the first failure (timeout/error/unavailable), which marks the answer degraded.
    """
    scored = [o for o in outcomes if o.status == DetectorStatus.OK and o.prob_fake is not None]
    per_frame = [
        {"status": o.status.value, "prob_fake": o.prob_fake, **({"reason": o.reason} if o.reason else {})}
        for o in outcomes
    ]
    details = {"keyframes_scored": len(scored), "keyframes_sent": len(outcomes), "per_keyframe": per_frame}
    elapsed = max((o.elapsed_ms or 0.0 for o in outcomes), default=None)
    version = next((o.version for o in outcomes if o.version), None)
    warnings = sorted({w for o in outcomes for w in o.warnings})
    if scored:
        failed = [o for o in outcomes if o.failed]
        if failed:
            warnings.append(f"{len(failed)} of {len(outcomes)} keyframes failed: {failed[0].error}")
        return DetectorOutcome(
            name=name,
            status=DetectorStatus.OK,
            prob_fake=sum(o.prob_fake for o in scored) / len(scored),  # type: ignore[misc]
            class_probs=_mean_class_probs(scored),
            version=version,
            elapsed_ms=elapsed,
            details=details,
            warnings=warnings,
        )
    abstained = [o for o in outcomes if o.status == DetectorStatus.ABSTAINED]
    if abstained:
        reason = Counter(o.reason for o in abstained).most_common(1)[0][0]
        return DetectorOutcome(
            name=name,
            status=DetectorStatus.ABSTAINED,
            abstained=True,
            reason=reason,
            version=version,
            elapsed_ms=elapsed,
            details=details,
            warnings=warnings,
        )
    first = outcomes[0]
    return DetectorOutcome(
        name=name,
        status=first.status,
        http_status=first.http_status,
        error=f"on every keyframe: {first.error}",
        version=version,
        elapsed_ms=elapsed,
        details=details,
        warnings=warnings,
    )


def _mean_class_probs(outcomes: Sequence[DetectorOutcome]) -> dict[str, float] | None:
    with_probs = [o.class_probs for o in outcomes if o.class_probs]
    if not with_probs:
        return None
    classes = sorted({c for probs in with_probs for c in probs})
    return {c: sum(p.get(c, 0.0) for p in with_probs) / len(with_probs) for c in classes}


def keyframe_evidence(
    keyframes: Sequence[Keyframe], per_frame: Sequence[Sequence[DetectorOutcome]], weights: dict[str, float]
) -> list[KeyframeEvidence]:
    """Per keyframe: which image detector said what, and their weighted mean score."""
    evidence = []
    for keyframe, outcomes in zip(keyframes, per_frame, strict=True):
        scored = [o for o in outcomes if o.status == DetectorStatus.OK and o.prob_fake is not None]
        total = sum(weights.get(o.name, 1.0) for o in scored)
        mean = sum(weights.get(o.name, 1.0) * o.prob_fake for o in scored) / total if scored else None  # type: ignore[operator]
        evidence.append(
            KeyframeEvidence(
                frame_index=keyframe.index,
                time_s=keyframe.time_s,
                width=keyframe.width,
                height=keyframe.height,
                mean_prob_fake=mean,
                detectors=[
                    KeyframeResult(
                        name=o.name,
                        status=o.status.value,
                        prob_fake=o.prob_fake,
                        reason=o.reason,
                        error=o.error,
                    )
                    for o in outcomes
                ],
            )
        )
    return evidence


def video_detector_evidence(outcome: DetectorOutcome) -> VideoDetectorEvidence:
    """The frames/faces a video detector reports in its details (the SDK contract asks it to)."""
    details = outcome.details or {}

    def count(key: str) -> int | None:
        value = details.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    tracks = details.get("tracks")
    return VideoDetectorEvidence(
        name=outcome.name,
        status=outcome.status.value,
        prob_fake=outcome.prob_fake,
        reason=outcome.reason,
        mode=details.get("mode") if isinstance(details.get("mode"), str) else None,
        frames_sampled=count("frames_sampled"),
        faces_found=count("faces_found"),
        faces_used=count("faces_used"),
        tracks=[
            {k: v for k, v in t.items() if k in ("track", "faces", "frames", "score")}
            for t in (tracks if isinstance(tracks, list) else [])
            if isinstance(t, dict)
        ],
    )


@dataclass
class VideoFusion:
    result: FusionResult
    basis: Basis
    video_score: float | None
    keyframe_score: float | None
    warnings: list[str] = field(default_factory=list)


def fuse_video(
    strategy: FusionStrategy,
    video_votes: Sequence[Vote],
    keyframe_votes: Sequence[Vote],
    video_ctx: FusionContext,
    image_ctx: FusionContext,
) -> VideoFusion:
    """Apply the rule in this module's docstring."""
    keyframes = strategy.run(keyframe_votes, image_ctx) if keyframe_votes else None
    keyframe_score = keyframes.score_fake if keyframes else None
    if video_votes:
        result = strategy.run(video_votes, video_ctx)
        warnings = []
        if keyframe_score is not None and result.score_fake is not None:
            keyframe_verdict = verdict_for(keyframe_score, video_ctx.threshold, video_ctx.uncertainty_band)
            if {keyframe_verdict, result.verdict} == {"fake", "real"}:
                warnings.append(
                    f"the keyframes' image evidence ({keyframe_score:.2f}) points the other way than the "
                    f"video detectors ({result.score_fake:.2f}); the verdict follows the video detectors, "
                    "which judge faces and motion, while image detectors judge each frame as a still"
                )
        return VideoFusion(result, "video_detectors", result.score_fake, keyframe_score, warnings)
    if keyframes is not None:
        result = FusionResult(
            score_fake=keyframes.score_fake,
            verdict=keyframes.verdict,
            confidence=keyframes.confidence,
            method=f"{keyframes.method} over keyframes (no video detector gave a score)",
        )
        return VideoFusion(result, "keyframes", None, keyframe_score)
    return VideoFusion(strategy.run([], video_ctx), "none", None, None)
