"""The upload as the pipeline sees it: checked against the caps, its container sniffed once.

What ``check_upload`` finds (the sniffed container, an image's header) travels with the bytes, so no
later step sniffs or parses them again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.errors import MalformedRequest
from tribunal_sdk.media import ImageHeader, MediaLimits, Sniffed, read_header, sniff


@dataclass(frozen=True)
class Upload:
    data: bytes
    sniffed: Sniffed  # media type and container, from the bytes (never the name)
    header: ImageHeader | None  # images only: size and mode from the headers, nothing decoded

    @property
    def media_type(self) -> str:
        return self.sniffed.media_type


async def check_upload(data: bytes, claimed: str | None, limits: MediaLimits) -> Upload:
    """Byte cap, sniff and, for an image, its headers and pixel cap: 413/415/422 before any decoding.

    ``claimed`` is /predict's media_type: checked against the bytes, never trusted."""
    limits.check_size(len(data))
    sniffed = sniff(data)
    if claimed is not None and claimed != sniffed.media_type:
        raise MalformedRequest(
            f"media_type says {claimed!r} but the bytes are a {sniffed.format} {sniffed.media_type}",
            code="media_type_mismatch",
        )
    if sniffed.media_type != "image":
        return Upload(data, sniffed, None)
    return Upload(data, sniffed, await asyncio.to_thread(read_header, data, sniffed, limits))
