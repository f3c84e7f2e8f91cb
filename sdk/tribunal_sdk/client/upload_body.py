"""The body of a ``POST /predict`` call: the upload as a multipart ``file`` field, encoded once.

The gateway sends one upload to every detector of its media type; encoding it once per upload, not
once per call, saves a copy of the file and httpx's request building for each detector. The layout is
the one httpx writes for ``files={"file": ("upload", data, "application/octet-stream")}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class UploadBody:
    content: bytes
    content_type: str  # multipart/form-data with its boundary


def encode_upload(data: bytes) -> UploadBody:
    boundary = os.urandom(16).hex()
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="upload"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode("ascii")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return UploadBody(b"".join((head, data, tail)), f"multipart/form-data; boundary={boundary}")
