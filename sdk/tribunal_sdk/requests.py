"""Reading an upload out of an HTTP request: multipart ``file`` or JSON ``{"media_type", "data"}``.

The byte cap is enforced while reading, so an oversized body is refused before it is held in memory.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tribunal_sdk.errors import MalformedRequest, MediaTooLarge, UnsupportedMediaType

# Room for multipart boundaries and form fields around the file itself.
_ENVELOPE_BYTES = 64 * 1024


@dataclass
class Upload:
    data: bytes
    filename: str | None
    claimed_media_type: str | None
    fields: dict[str, str]


def _too_large(max_bytes: int) -> MediaTooLarge:
    return MediaTooLarge(f"request body exceeds the {max_bytes / 1e6:.1f} MB limit", code="file_too_large")


async def read_capped_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing anything over ``max_bytes`` (plus envelope) without buffering it."""
    limit = max_bytes + _ENVELOPE_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(max_bytes)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """Extract the media bytes from a multipart or JSON request; typed errors for everything else."""
    content_type = request.headers.get("content-type", "").lower()
    body = await read_capped_body(request, max_bytes)
    if content_type.startswith("multipart/form-data"):
        replayed = Request(request.scope, receive=_replay(body))
        try:
            form = await replayed.form()
        except Exception as exc:
            raise MalformedRequest(f"could not parse the multipart body: {exc}") from exc
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise MalformedRequest("multipart body needs a 'file' field holding the image or video")
        data = await file.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        await form.close()
        return Upload(data=data, filename=file.filename, claimed_media_type=None, fields=fields)
    if content_type.startswith("application/json"):
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedRequest(f"body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
            raise MalformedRequest('JSON body must be an object with a base64 string in "data"')
        try:
            data = base64.b64decode(payload["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest(f'"data" is not valid base64: {exc}', code="malformed_base64") from exc
        claimed = payload.get("media_type")
        fields = {k: str(v) for k, v in payload.items() if k not in ("data",) and v is not None}
        return Upload(data=data, filename=None, claimed_media_type=claimed, fields=fields)
    raise UnsupportedMediaType(
        f"request content type {content_type or '(none)'!r} is not accepted: send multipart/form-data "
        'with a "file" field, or JSON {"media_type": ..., "data": <base64>}',
        code="unsupported_request_type",
    )
