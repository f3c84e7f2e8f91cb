"""The base classes a detector author subclasses.

A detector is a class with a ``detector.yaml`` beside its module and two methods:

    class MyDetector(ImageDetector):
        def load(self) -> None:                      # read weights; raise WeightsUnavailable if absent
            ...
        def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
            ...

Everything else (HTTP, health, readiness, batching, decoding, metrics) is the SDK's job.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
import yaml
from pydantic import BaseModel, Field, ValidationError

from tribunal_sdk.errors import WeightsUnavailable
from tribunal_sdk.media import ImageInput, MediaType, VideoInput, file_sha256
from tribunal_sdk.result import Prediction

InputT = TypeVar("InputT", ImageInput, VideoInput)


class WeightFile(BaseModel):
    """One weight file a detector needs, pinned by sha256."""

    file: str
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    origin: str = ""


class BatchingSpec(BaseModel):
    max_batch_size: int = Field(8, ge=1, le=1024)
    max_delay_ms: float = Field(5.0, ge=0.0, le=10_000.0)


class DetectorSpec(BaseModel):
    """The metadata in a detector's ``detector.yaml``; /info is built from it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str
    description: str = ""
    media_types: list[MediaType] = Field(min_length=1)
    task: Literal["binary", "attribution"] = "binary"
    classes: list[str] = Field(default_factory=lambda: ["real", "fake"])
    backbone: str = "none"
    input_size: int | None = None
    weights: list[WeightFile] = Field(default_factory=list)
    batching: BatchingSpec = Field(default_factory=BatchingSpec)

    @classmethod
    def from_yaml(cls, path: Path) -> DetectorSpec:
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"detector metadata file missing: {path}") from exc
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"{path}: invalid detector metadata:\n{exc}") from exc


def verify_sha256(path: Path, expected: str | None) -> str:
    """Hash a weight file and compare it with the pinned digest; returns the digest."""
    if not path.is_file():
        raise WeightsUnavailable(f"weights file not found: {path}")
    actual = file_sha256(path)
    if expected and actual != expected:
        raise WeightsUnavailable(f"weights file {path.name} has sha256 {actual}, expected {expected}")
    return actual


class Detector(ABC, Generic[InputT]):
    """Base of every detector service. Subclass ImageDetector or VideoDetector, not this."""

    media_type: ClassVar[MediaType]
    #: Path of the metadata file; defaults to ``detector.yaml`` beside the subclass's module.
    spec_file: ClassVar[str] = "detector.yaml"

    def __init__(self, spec: DetectorSpec | None = None, device: str | None = None):
        self.spec = spec or DetectorSpec.from_yaml(self.directory() / self.spec_file)
        self.device = device or "cpu"

    @classmethod
    def directory(cls) -> Path:
        """The folder holding the detector's module, detector.yaml and weights/."""
        return Path(inspect.getfile(cls)).resolve().parent

    def weights_path(self, filename: str) -> Path:
        return self.directory() / "weights" / filename

    def verified_weights(self, filename: str) -> Path:
        """Path of a weight file listed in detector.yaml, after checking its pinned sha256."""
        for entry in self.spec.weights:
            if entry.file == filename:
                path = self.weights_path(filename)
                verify_sha256(path, entry.sha256)
                return path
        raise WeightsUnavailable(f"{filename} is not listed under weights: in {self.spec_file}")

    @abstractmethod
    def load(self) -> None:
        """Load the model. Raise WeightsUnavailable (with a helpful message) when it cannot."""

    @abstractmethod
    def predict_batch(self, inputs: list[InputT]) -> list[Prediction]:
        """Score a batch; return exactly one Prediction per input, in order."""

    def explain(self, item: InputT, prediction: Prediction) -> np.ndarray | bytes | None:
        """Where the evidence is: an HxW array in [0, 1] (the SDK overlays it) or ready PNG bytes.

        Detectors that cannot explain keep this default and the SDK adds a warning instead.
        """
        return None

    def runtime_info(self) -> dict[str, Any]:
        """Facts known only after load(), merged into /info (e.g. the backbone actually in use)."""
        return {}


class ImageDetector(Detector[ImageInput]):
    media_type: ClassVar[MediaType] = "image"
    #: False for a detector that reads only the uploaded bytes (``ImageInput.raw``), never the pixels:
    #: the SDK then checks that the upload decodes without holding its pixels (``verify_image``) and
    #: hands predict_batch ``image=None``. A 40 MP upload costs such a detector a few MB, not 160 MB.
    reads_pixels: ClassVar[bool] = True


class VideoDetector(Detector[VideoInput]):
    media_type: ClassVar[MediaType] = "video"
