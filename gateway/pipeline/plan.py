"""What a media type contributes to the pipeline: a plan (``ImagePlan``, ``VideoPlan``).

The pipeline (``gateway/detection.py``) runs the same steps for every upload and asks the plan of its
media type at each one: which detectors may be asked, and grouped by which input they get; what is
checked before anything is sent; how the inputs go out and the answers come back; how they are fused.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeAlias, TypeVar

from gateway.fusion import FusionResult
from gateway.pipeline.fusing import Fusion
from gateway.pipeline.upload import Upload
from gateway.registry import DetectorEntry
from gateway.video.schemas import VideoEvidence
from tribunal_sdk.client import DetectorOutcome

# The detectors a request asks, by group (the keys of the plan's ``groups()``).
Asked: TypeAlias = Mapping[str, list[DetectorEntry]]


@dataclass
class Gathered:
    """What the fan-out brought back: one outcome per asked detector, in answer order."""

    outcomes: list[DetectorOutcome]
    notes: list[str]  # about the inputs (e.g. an option that does not apply); warnings of the answer


@dataclass
class Fused:
    """The plan's verdict and what goes with it into the answer."""

    result: FusionResult
    warnings: list[str]  # after the failures in the answer's warnings
    video: VideoEvidence | None = None


G = TypeVar("G", bound=Gathered)


class MediaPlan(ABC, Generic[G]):
    """How one media type goes through the pipeline; ``G`` is what its ``gather`` returns."""

    media_type: ClassVar[str]
    subject: ClassVar[str]  # the upload in messages: "this image"
    nobody_answered: ClassVar[str]  # the 503's message when no detector answered, before the list

    @abstractmethod
    def groups(self) -> dict[str, list[DetectorEntry]]:
        """The enabled detectors that may be asked, grouped by the input each group gets."""

    @abstractmethod
    def no_detector(self) -> str:
        """The 415's message when every group is empty."""

    @abstractmethod
    def not_in_a_group(self, entry: DetectorEntry) -> str:
        """Why an enabled detector named in the request's models is in no group ("handles video only")."""

    def admitted(self, upload: Upload) -> AbstractAsyncContextManager[None]:
        """Held around the whole detection (the image plan's memory budget); nothing by default."""
        return contextlib.nullcontext()

    @abstractmethod
    def fingerprint(self, upload: Upload) -> str:
        """The upload's sha256, after whatever must be checked before any detector is chosen (blocking)."""

    @abstractmethod
    async def gather(self, upload: Upload, asked: Asked, explain: bool, request_id: str | None) -> G:
        """Prepare the inputs and send each group its own; ``asked`` has the keys of ``groups()``."""

    @abstractmethod
    async def fuse(self, gathered: G, fusion: Fusion) -> Fused:
        """The verdict from what ``gather`` returned."""
