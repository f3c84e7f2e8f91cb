"""Reading an upload out of an HTTP request: multipart ``file`` or JSON ``{"media_type", "data"}``.

The byte cap is enforced before this runs, by ``tribunal_sdk.upload_limit.UploadLimitMiddleware``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tribunal_sdk.errors import MalformedRequest, UnsupportedMediaType


@dataclass
class Upload:
    data: bytes
    filename: str | None
    claimed_media_type: str | None
    fields: dict[str, str]


_DATA_URL_PREFIX = re.compile(r"^data:[^,]*;base64,", re.IGNORECASE)
_BASE64_CHARS = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")
_BASE64URL_CHARS = re.compile(rb"^[A-Za-z0-9_-]*={0,2}$")


def decode_base64(text: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, whitespace ignored); MalformedRequest otherwise."""
    compact = "".join(_DATA_URL_PREFIX.sub("", text.strip(), count=1).split()).encode("ascii", "replace")
    alphabet = _BASE64_CHARS if _BASE64_CHARS.match(compact) else _BASE64URL_CHARS
    if not alphabet.match(compact) or len(compact) % 4 == 1:
        raise MalformedRequest("'data' is not valid base64", code="malformed_base64")
    padded = compact + b"=" * (-len(compact) % 4)
    try:
        if alphabet is _BASE64_CHARS:
            return base64.b64decode(padded, validate=True)
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRequest(f"'data' is not valid base64: {exc}", code="malformed_base64") from exc


async def read_upload(request: Request) -> Upload:
    """Extract the media bytes from a multipart or JSON request; typed errors for everything else."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()
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
            payload = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedRequest(f"body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
            raise MalformedRequest('JSON body must be an object with a base64 string in "data"')
        data = decode_base64(payload["data"])
        claimed = payload.get("media_type")
        fields = {k: str(v) for k, v in payload.items() if k not in ("data",) and v is not None}
        return Upload(data=data, filename=None, claimed_media_type=claimed, fields=fields)
    raise UnsupportedMediaType(
        f"request content type {content_type or '(none)'!r} is not accepted: send multipart/form-data "
        'with a "file" field, or JSON {"media_type": ..., "data": <base64>}',
        code="unsupported_request_type",
    )
