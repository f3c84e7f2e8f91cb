"""A video upload's container header, caps and keyframes, read from a temporary file (OpenCV reads paths).

Blocking: the pipeline runs ``inspect_upload`` in a worker thread.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gateway.errors import UndecodableMedia
from gateway.video.keyframes import Keyframe, sample_keyframes
from gateway.video.settings import VideoSettings
from tribunal_sdk.video import VideoProbe, probe_video


@contextlib.contextmanager
def spooled(data: bytes, suffix: str) -> Iterator[Path]:
    """The upload as a temporary file, removed afterwards."""
    with tempfile.NamedTemporaryFile(prefix="tribunal-gw-", suffix=f".{suffix}", delete=False) as handle:
        handle.write(data)
    path = Path(handle.name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def inspect_video(path: Path, settings: VideoSettings, n_keyframes: int) -> tuple[VideoProbe, list[Keyframe]]:
    """Header, caps (413) and ``n_keyframes`` keyframes.

    At least one frame is always decoded, so a video no detector could read is a 400 here.
    """
    probe = probe_video(path)
    limits = settings.limits()
    limits.check(probe)
    keyframes = sample_keyframes(path, probe, limits, max(1, n_keyframes))
    if not keyframes:
        raise UndecodableMedia("the video holds no decodable frame", code="no_frames")
    return probe, keyframes[:n_keyframes]


def inspect_upload(
    data: bytes, container: str, settings: VideoSettings, n_keyframes: int
) -> tuple[VideoProbe, list[Keyframe]]:
    """``inspect_video`` on the upload's bytes; ``container`` is its sniffed format (the file suffix)."""
    with spooled(data, container) as path:
        return inspect_video(path, settings, n_keyframes)
