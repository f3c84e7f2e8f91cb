"""Reading a video without holding it: probe the container, check the caps, stream sampled frames.

Shared by video detectors and the gateway (which samples keyframes for the image detectors), so the
caps and the sampling rule are the same everywhere. OpenCV's FFmpeg reader decodes one frame at a
time; ``iter_sampled_frames`` hands each wanted frame to the caller and keeps nothing, so memory stays
at one decoded frame whatever the video's length.

OpenCV is imported on first use: it is needed only by services that read video
(``pip install "opencv-python-headless>=4.10,<5"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tribunal_sdk.errors import MediaTooLarge, UndecodableMedia

if TYPE_CHECKING:
    import numpy as np

# Gaps longer than this many frames are crossed by seeking (FFmpeg jumps to the previous keyframe
# and decodes forward, exact in OpenCV 4); shorter ones by grabbing, which never lands on a wrong frame.
SEEK_GAP_FRAMES = 250


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            'reading video needs OpenCV: pip install "opencv-python-headless>=4.10,<5"'
        ) from exc
    return cv2


@dataclass(frozen=True)
class VideoProbe:
    """What the container header says; ``frame_count`` 0 means the container does not say."""

    frame_count: int
    fps: float
    width: int
    height: int

    @property
    def duration_s(self) -> float | None:
        if self.frame_count > 0 and self.fps > 0:
            return self.frame_count / self.fps
        return None

    def as_details(self) -> dict[str, Any]:
        duration = self.duration_s
        return {
            "frame_count": self.frame_count,
            "fps": round(self.fps, 3),
            "width": self.width,
            "height": self.height,
            "duration_s": None if duration is None else round(duration, 3),
        }


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be before anything decodes it."""

    max_duration_s: float = 600.0
    max_frame_pixels: int = 4096 * 2304  # a little over 4K UHD (3840 x 2160)
    max_frames: int = 100_000  # bounds a full decode when the container does not give its length

    def check(self, probe: VideoProbe) -> None:
        """Raise MediaTooLarge (413) for frames or a video over the caps."""
        pixels = probe.width * probe.height
        if pixels > self.max_frame_pixels:
            raise MediaTooLarge(
                f"video frames are {probe.width}x{probe.height} = {pixels / 1e6:.1f} MP; the limit is "
                f"{self.max_frame_pixels / 1e6:.1f} MP a frame",
                code="video_resolution_too_large",
            )
        if probe.frame_count > self.max_frames:
            raise MediaTooLarge(
                f"video has {probe.frame_count} frames; the limit is {self.max_frames}",
                code="video_too_many_frames",
            )
        if probe.duration_s is not None and probe.duration_s > self.max_duration_s:
            raise MediaTooLarge(
                f"video lasts {probe.duration_s:.1f} s; the limit is {self.max_duration_s:g} s",
                code="video_too_long",
            )


def _open(path: Path) -> Any:
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise UndecodableMedia(
            "the video could not be opened: the container is corrupt, truncated, empty or holds no "
            "video stream this server can decode",
            code="video_unreadable",
        )
    return capture


def probe_video(path: Path) -> VideoProbe:
    """Read the header (no frame is decoded); UndecodableMedia (400) when it cannot be opened."""
    cv2 = _cv2()
    capture = _open(path)
    try:
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    if width <= 0 or height <= 0:
        raise UndecodableMedia("the video stream declares no frame size", code="video_unreadable")
    if not math.isfinite(fps) or fps < 0:
        fps = 0.0
    return VideoProbe(frame_count=max(frame_count, 0), fps=fps, width=width, height=height)


def sample_indices(frame_count: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``frame_count`` frames: the middle of each of n equal
    segments (so neither end is over-represented); every frame when there are no more than n."""
    if frame_count <= 0 or n <= 0:
        return []
    if frame_count <= n:
        return list(range(frame_count))
    return [min(frame_count - 1, int((i + 0.5) * frame_count / n)) for i in range(n)]


def count_frames(path: Path, limit: int) -> int:
    """Count decodable frames by grabbing them (for containers that do not say); stops past ``limit``."""
    capture = _open(path)
    count = 0
    try:
        while count <= limit and capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def iter_sampled_frames(
    path: Path, n: int, probe: VideoProbe, limits: VideoLimits, seek_gap: int = SEEK_GAP_FRAMES
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, BGR uint8 frame)`` for ``n`` evenly spaced frames, one at a time.

    The video is read once, front to back; nothing but the current frame is held. A container that
    reports more frames than it holds simply ends early (the caller sees fewer frames).
    """
    cv2 = _cv2()
    frame_count = probe.frame_count
    if frame_count <= 0:
        frame_count = count_frames(path, limits.max_frames)
        if frame_count > limits.max_frames:
            raise MediaTooLarge(
                f"video has more than {limits.max_frames} frames", code="video_too_many_frames"
            )
    wanted = sample_indices(frame_count, n)
    if not wanted:
        return
    capture = _open(path)
    try:
        position = 0
        for index in wanted:
            if index - position > seek_gap and capture.set(cv2.CAP_PROP_POS_FRAMES, index):
                position = index
            while position < index:
                if not capture.grab():
                    return
                position += 1
            ok, frame = capture.read()
            position += 1
            if not ok or frame is None:
                return
            if frame.ndim == 2:  # a few codecs decode to grey
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            yield index, frame
    finally:
        capture.release()
