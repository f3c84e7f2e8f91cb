"""Short video clips made from a still image: camera-like motion, then a real video codec.

Training clips for the default weights: a slow pan and zoom over the still with a little hand shake
(a similarity warp per frame, as a camera moving over a print would see it), encoded with one of the
codecs this OpenCV build writes (MPEG-4 Part 2, Motion-JPEG, Xvid, VP8), then decoded again. Real and
fake stills go through the same motion and the same random codecs, so the codec says nothing about
the label.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tribunal_sdk.video import VideoProbe, probe_video

# (container, fourcc) pairs the bundled FFmpeg writes; checked in the tests.
CODECS = (("mp4", "mp4v"), ("avi", "MJPG"), ("avi", "XVID"), ("webm", "VP80"))


@dataclass(frozen=True)
class Focus:
    """Keep this region in view: centre and the range of window widths (in still pixels)."""

    cx: float
    cy: float
    min_window: float
    max_window: float


@dataclass(frozen=True)
class ClipPlan:
    n_frames: int
    fps: float
    size: tuple[int, int]  # output width, height
    codec: tuple[str, str]


def camera_path(
    rng: np.random.Generator,
    still_shape: tuple[int, ...],
    size: tuple[int, int],
    n_frames: int,
    focus: Focus | None = None,
) -> list[np.ndarray]:
    """2x3 affine maps (still -> frame), one per frame: a linear pan/zoom/roll plus smoothed shake."""
    still_h, still_w = still_shape[:2]
    out_w, out_h = size
    aspect = out_w / out_h
    full = min(still_w, still_h * aspect)  # widest window of the output's aspect that fits

    def window_width() -> float:
        if focus is None:
            return full / rng.uniform(1.0, 1.3)
        return min(full, rng.uniform(focus.min_window, focus.max_window))

    def centre(width: float) -> tuple[float, float]:
        half_w, half_h = width / 2, width / aspect / 2
        if focus is None:
            cx, cy = rng.uniform(half_w, still_w - half_w), rng.uniform(half_h, still_h - half_h)
        else:
            jitter = 0.12 * width
            cx, cy = focus.cx + rng.uniform(-jitter, jitter), focus.cy + rng.uniform(-jitter, jitter)
        return (float(np.clip(cx, half_w, still_w - half_w)), float(np.clip(cy, half_h, still_h - half_h)))

    w0, w1 = window_width(), window_width()
    (x0, y0), (x1, y1) = centre(w0), centre(w1)
    roll0, roll1 = rng.uniform(-2, 2), rng.uniform(-2, 2)
    # Hand shake: a random walk, smoothed, of about a pixel of the output.
    shake = np.cumsum(rng.normal(0, 0.4, size=(n_frames, 2)), axis=0)
    shake -= shake.mean(axis=0)
    maps = []
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        t = 0.5 - 0.5 * math.cos(math.pi * t)  # ease in and out, as a camera operator does
        width = w0 + (w1 - w0) * t
        cx, cy = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        angle = roll0 + (roll1 - roll0) * t
        scale = out_w / width
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        matrix[0, 2] += out_w / 2 - cx + shake[i, 0]
        matrix[1, 2] += out_h / 2 - cy + shake[i, 1]
        maps.append(matrix)
    return maps


def render_frames(still: np.ndarray, maps: list[np.ndarray], size: tuple[int, int]) -> Iterator[np.ndarray]:
    for matrix in maps:
        yield cv2.warpAffine(still, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def random_plan(
    rng: np.random.Generator, sizes: tuple[tuple[int, int], ...], n_frames: tuple[int, int] = (6, 10)
) -> ClipPlan:
    size = sizes[rng.integers(len(sizes))]
    codec = CODECS[rng.integers(len(CODECS))]
    return ClipPlan(
        int(rng.integers(n_frames[0], n_frames[1] + 1)), float(rng.choice([10, 15, 25])), size, codec
    )


def write_clip(frames: Iterator[np.ndarray], path: Path, plan: ClipPlan) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*plan.codec[1]), plan.fps, plan.size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {plan.codec[1]} into .{plan.codec[0]}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def make_clip(
    still: np.ndarray, plan: ClipPlan, rng: np.random.Generator, path: Path, focus: Focus | None = None
) -> Path:
    """Write the clip of ``still`` described by ``plan`` to ``path`` (its suffix should match the codec)."""
    maps = camera_path(rng, still.shape, plan.size, plan.n_frames, focus)
    return write_clip(render_frames(still, maps, plan.size), path, plan)


@contextlib.contextmanager
def temporary_clip(
    still: np.ndarray, plan: ClipPlan, rng: np.random.Generator, focus: Focus | None = None
) -> Iterator[tuple[Path, VideoProbe]]:
    """Make the clip in a temporary file, yield its path and probe, delete it afterwards."""
    with tempfile.TemporaryDirectory(prefix="tribunal-clip-") as tmp:
        path = make_clip(still, plan, rng, Path(tmp) / f"clip.{plan.codec[0]}", focus)
        yield path, probe_video(path)
