"""Keyframes for the image detectors: evenly spaced frames of the spooled video, as lossless PNG.

PNG, because a JPEG re-encode would add compression traces of the gateway's own making to what the
image detectors judge. The video is read once, front to back; only the PNG bytes of the sampled
frames are kept (a few MB for 6 frames of 1080p), never the decoded frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2

from tribunal_sdk.video import VideoLimits, VideoProbe, iter_sampled_frames


@dataclass(frozen=True)
class Keyframe:
    index: int  # frame number in the video
    time_s: float | None  # index / fps, when the container gives a frame rate
    width: int
    height: int
    png: bytes


def sample_keyframes(path: Path, probe: VideoProbe, limits: VideoLimits, n: int) -> list[Keyframe]:
    """Up to ``n`` keyframes (fewer when the video is shorter or ends early)."""
    frames = []
    for index, frame in iter_sampled_frames(path, n, probe, limits):
        ok, encoded = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            continue
        time_s = round(index / probe.fps, 3) if probe.fps > 0 else None
        frames.append(Keyframe(index, time_s, frame.shape[1], frame.shape[0], encoded.tobytes()))
    return frames
