"""Kept uploads (``keep_uploads``): one file per analysis under ``<data_dir>/uploads/``."""

from __future__ import annotations

import os
from pathlib import Path

from tribunal_sdk.media import sniff

UPLOADS_DIR = "uploads"
_CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
}


def save_upload(data_dir: Path, analysis_id: str, data: bytes) -> str:
    """Write the bytes; returns the path relative to ``data_dir``. Named by id, never by the client's name."""
    fmt = sniff(data).format  # already validated by the detection, so this cannot fail here
    relative = Path(UPLOADS_DIR) / analysis_id[:2] / f"{analysis_id}.{fmt}"
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return relative.as_posix()


def upload_path(data_dir: Path, stored_path: str) -> Path | None:
    """The absolute path of a kept upload, if it is still there and inside the uploads folder."""
    root = (data_dir / UPLOADS_DIR).resolve()
    path = (data_dir / stored_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def content_type(path: Path) -> str:
    return _CONTENT_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")


def delete_upload(data_dir: Path, stored_path: str | None) -> None:
    if stored_path is None:
        return
    path = upload_path(data_dir, stored_path)
    if path is not None:
        path.unlink(missing_ok=True)
