"""Videos the tests make themselves with OpenCV's VideoWriter (mp4v, VP8, MJPG: what this build writes)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import cv2
import numpy as np

# container extension -> a codec OpenCV's bundled FFmpeg can write into it
CODECS = {"mp4": "mp4v", "mov": "mp4v", "webm": "VP80", "avi": "MJPG"}


def write_video(
    path: Path, frames: Iterable[np.ndarray], fps: float = 10.0, fourcc: str | None = None
) -> Path:
    """Encode BGR uint8 frames (all the same size) into ``path``; the codec follows the extension."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_video needs at least one frame; use zero_frame_video for an empty one")
    h, w = first.shape[:2]
    code = fourcc or CODECS[path.suffix.lstrip(".")]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*code), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {code} into {path.suffix}")
    try:
        writer.write(first)
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def video_bytes(frames: Iterable[np.ndarray], ext: str = "mp4", fps: float = 10.0) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_video(Path(tmp) / f"clip.{ext}", frames, fps).read_bytes()


@cache
def astronaut_face() -> np.ndarray:
    """The head of scikit-image's astronaut photo (Eileen Collins, NASA, public domain), BGR, ~190x200."""
    from skimage import data

    rgb = data.astronaut()
    return cv2.cvtColor(np.ascontiguousarray(rgb[20:230, 130:320]), cv2.COLOR_RGB2BGR)


def background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth, face-free backdrop: gradients plus mild noise (width, height)."""
    w, h = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = np.stack([60 + 120 * x + 0 * y, 90 + 80 * y + 0 * x, 140 - 60 * x * y], axis=-1)
    noise = rng.normal(0, 6, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def face_frames(
    n: int = 12, size: tuple[int, int] = (360, 280), step: int = 3, seed: int = 0
) -> list[np.ndarray]:
    """A real face (the astronaut's) pasted on a backdrop, drifting ``step`` px right and down a frame."""
    face = astronaut_face()
    fh, fw = face.shape[:2]
    w, h = size
    frames = []
    for i in range(n):
        frame = background(size, seed)
        x0 = min(w - fw, 40 + step * i)
        y0 = min(h - fh, 30 + (step // 2) * i)
        frame[y0 : y0 + fh, x0 : x0 + fw] = face
        frames.append(frame)
    return frames


def plain_frames(n: int = 12, size: tuple[int, int] = (320, 240), seed: int = 1) -> list[np.ndarray]:
    """No face: a backdrop with a moving bright rectangle (so frames differ)."""
    frames = []
    w, h = size
    for i in range(n):
        frame = background(size, seed)
        x = (10 + 7 * i) % max(1, w - 40)
        cv2.rectangle(frame, (x, h // 3), (x + 40, h // 3 + 30), (230, 230, 230), -1)
        frames.append(frame)
    return frames


def face_video(ext: str = "mp4", n: int = 12, **kw) -> bytes:
    return video_bytes(face_frames(n, **kw), ext)


def plain_video(ext: str = "mp4", n: int = 12, **kw) -> bytes:
    return video_bytes(plain_frames(n, **kw), ext)


def one_frame_video(ext: str = "mp4", with_face: bool = True) -> bytes:
    return video_bytes(face_frames(1) if with_face else plain_frames(1), ext)


def long_video(seconds: float, fps: float = 2.0, size: tuple[int, int] = (64, 48)) -> bytes:
    """A tiny, low-frame-rate video of a given duration (cheap to write; trips duration caps)."""
    frame = background(size)
    return video_bytes((frame for _ in range(round(seconds * fps))), "mp4", fps=fps)


def huge_video(side: int = 4500) -> bytes:
    """One flat frame of side x side pixels (20 MP at 4500): over any sane per-frame pixel cap."""
    return video_bytes([np.full((side, side, 3), 90, np.uint8)], "mp4", fps=1.0)


def zero_frame_video() -> bytes:
    """A real MP4 container with no frame in it (the writer opened and closed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "empty.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
        writer.release()
        return path.read_bytes()


def corrupt_video() -> bytes:
    """Starts like an MP4 (so it sniffs as video) and then is noise: no decoder can read it."""
    rng = np.random.default_rng(7)
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + rng.bytes(4000)


def truncated_video() -> bytes:
    """A real MP4 cut in half (its index, written last, is gone)."""
    data = face_video("mp4", n=6)
    return data[: len(data) // 2]
