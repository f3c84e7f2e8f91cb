"""The image plan: the file itself to every enabled image detector, one strategy over their scores.

The gateway never holds an image's pixels: ``check_upload`` read its type, size and pixel count from the
headers, and ``fingerprint`` checks that it decodes in bounded memory (``tribunal_sdk.media.verify_image``)
without keeping the pixels. Each image detector does decode it, at full resolution, so the whole
detection holds that decoded size of the gateway's memory budget (``TRIBUNAL_MEMORY_BUDGET_MB``): a burst
of huge images queues here briefly or is refused with 503 + Retry-After, once for the whole stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from gateway.pipeline.fusing import Fusion
from gateway.pipeline.plan import Asked, Fused, Gathered, MediaPlan
from gateway.pipeline.upload import Upload
from gateway.registry import DetectorEntry, Registry
from tribunal_sdk.client import FanoutClient
from tribunal_sdk.media import MediaLimits, sha256_hex, verify_image
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
        """400 unless the image decodes, checked without holding its pixels; then its sha256."""
        verify_image(upload.data, self.limits)
        return sha256_hex(upload.data)

    async def gather(self, upload: Upload, asked: Asked, explain: bool, request_id: str | None) -> Gathered:
        outcomes = await self.fanout.predict_all(
            upload.data, "image", asked["image"], explain=explain, request_id=request_id
        )
        return Gathered(outcomes, [])

    async def fuse(self, gathered: Gathered, fusion: Fusion) -> Fused:
        ctx = fusion.context("image", gathered.outcomes)
        result = await fusion.call(fusion.strategy.run, fusion.votes(gathered.outcomes), ctx)
        return Fused(result, list(result.warnings))
