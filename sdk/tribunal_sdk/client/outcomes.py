"""What the fan-out client reports: one outcome per detector call, and a detector's /ready and /info.

These are the caller's half of the wire contract. ``tribunal_sdk.result.PredictResponse`` is what a
detector sends; a ``DetectorOutcome`` is what the caller gets back for it, with a status that says
whether it can be used (``ok``), must be left out of fusion (``abstained``), or failed and how.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class DetectorStatus(StrEnum):
    OK = "ok"  # answered with a score
    ABSTAINED = "abstained"  # answered "no evidence either way"; left out of fusion
    TIMEOUT = "timeout"  # no complete answer within the registry timeout_s
    ERROR = "error"  # answered, but with an error status or an invalid body
    UNAVAILABLE = "unavailable"  # unreachable, not ready (503), or its circuit breaker is open
    SKIPPED = "skipped"  # not asked (filtered out by the request's `models`, or wrong media type)


ANSWERED = frozenset({DetectorStatus.OK, DetectorStatus.ABSTAINED})
FAILED = frozenset({DetectorStatus.TIMEOUT, DetectorStatus.ERROR, DetectorStatus.UNAVAILABLE})


class DetectorOutcome(BaseModel):
    """What one detector did with one upload; serialised as-is into the gateway's ``detectors`` list."""

    name: str
    status: DetectorStatus
    prob_fake: float | None = None
    class_probs: dict[str, float] | None = None
    abstained: bool = False
    reason: str | None = None
    version: str | None = None
    elapsed_ms: float | None = Field(None, description="round trip as seen by the gateway")
    http_status: int | None = Field(None, description="the detector's HTTP status, when it answered at all")
    error: str | None = None
    heatmap_png: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @classmethod
    def skipped(cls, name: str, reason: str) -> DetectorOutcome:
        return cls(name=name, status=DetectorStatus.SKIPPED, reason=reason)


class ProbeResult(BaseModel):
    """A detector's /ready and /info, as last seen."""

    name: str
    ready: bool
    reason: str | None = None
    info: dict[str, Any] | None = None
    probed_at: datetime
    elapsed_ms: float

    @property
    def version(self) -> str | None:
        return (self.info or {}).get("version")

    @property
    def backbone(self) -> str | None:
        return (self.info or {}).get("backbone")
