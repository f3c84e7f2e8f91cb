"""The image plan: the file itself to every enabled image detector, one strategy over their scores.

The gateway never decodes an image: ``check_upload`` read its type, size and pixel count from the
headers, and ``fingerprint`` checks from its structure that the file is whole (``tribunal_sdk.media.
check_whole``: a PNG's image data chunks, a JPEG's end-of-image marker; a file that settles nothing this
way is checked to decode in bounded memory, as ``verify_image`` does). Each image detector decodes it once,
at full resolution: the one decode per process. An image that is whole yet will not decode is refused by
every detector with a 400, and so is the request (``gather``), as when the gateway checked it itself.
That decoded size is held in the gateway's memory budget (``TRIBUNAL_MEMORY_BUDGET_MB``) for the whole
detection: a burst of huge images queues here briefly or is refused with 503 + Retry-After, once for the
whole stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from gateway.errors import UndecodableMedia
from gateway.pipeline.fusing import Fusion
from gateway.pipeline.plan import Asked, Fused, Gathered, MediaPlan
from gateway.pipeline.upload import Upload
from gateway.registry import DetectorEntry, Registry
from tribunal_sdk.client import DetectorOutcome, FanoutClient
from tribunal_sdk.media import MediaLimits, check_whole, sha256_hex
from tribunal_sdk.memory import MemoryBudget, release_after


class ImagePlan(MediaPlan[Gathered]):
    media_type = "image"
    subject = "this image"
    nobody_answered = "no detector for image could answer"

    def __init__(self, registry: Registry, fanout: FanoutClient, limits: MediaLimits, memory: MemoryBudget):
        self.registry = registry
        self.fanout = fanout
        self.limits = limits
        self.memory = memory

    def groups(self) -> dict[str, list[DetectorEntry]]:
        return {"image": self.registry.for_media_type("image")}

    def no_detector(self) -> str:
        handled = ", ".join(self.registry.media_types()) or "nothing (no detector is enabled)"
        return f"no enabled detector handles image; the enabled detectors handle: {handled}"

    def not_in_a_group(self, entry: DetectorEntry) -> str:
        return f"handles {', '.join(entry.media_types)} only"

    @contextlib.asynccontextmanager
    async def admitted(self, upload: Upload) -> AsyncIterator[None]:
        assert upload.header is not None  # check_upload reads every image's header
        # Every image detector decodes its own full-resolution copy while it works on the request.
        weight = upload.header.decoded_bytes + len(upload.data)
        try:
            async with self.memory.hold(weight):
                yield
        finally:
            await release_after(self.memory, weight)

    def fingerprint(self, upload: Upload) -> str:
        """400 unless the image is whole, told without decoding it where its structure shows; its sha256."""
        assert upload.header is not None
        check_whole(upload.data, upload.header, self.limits)
        return sha256_hex(upload.data)

    async def gather(self, upload: Upload, asked: Asked, explain: bool, request_id: str | None) -> Gathered:
        outcomes = await self.fanout.predict_all(
            upload.data, "image", asked["image"], explain=explain, request_id=request_id
        )
        _refuse_undecodable(outcomes)
        return Gathered(outcomes, [])

    async def fuse(self, gathered: Gathered, fusion: Fusion) -> Fused:
        ctx = fusion.context("image", gathered.outcomes)
        result = await fusion.call(fusion.strategy.run, fusion.votes(gathered.outcomes), ctx)
        return Fused(result, list(result.warnings))


def _refuse_undecodable(outcomes: list[DetectorOutcome]) -> None:
    """400 when no detector answered and one refused the image as undecodable: the decoders are the
    detectors, so their 400 is the request's (as when ``verify_image`` ran here before any was asked)."""
    if any(o.answered for o in outcomes):
        return
    refusal = next((o for o in outcomes if o.http_status == 400), None)
    if refusal is not None:
        raise UndecodableMedia(f"{refusal.name} could not decode the image ({refusal.error})")
