"""Answer bodies of /history and /stats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.feedback.schemas import FeedbackOut
from gateway.fusion import Verdict


class HistoryItem(BaseModel):
    """One analysis in a list: enough to scan and filter."""

    id: str
    created_at: datetime
    username: str | None = Field(description="who asked; null when auth was off and nobody signed in")
    filename: str | None
    sha256: str
    size_bytes: int
    media_type: Literal["image", "video"]
    verdict: Verdict
    score_fake: float | None
    confidence: float | None
    method: str
    predicted_source: str | None
    degraded: bool
    elapsed_ms: float
    has_file: bool = Field(description="the upload was kept (keep_uploads); GET /history/{id}/file")


class HistoryDetail(HistoryItem):
    """One analysis in full: the detection answer as it was given (heatmaps are not kept)."""

    threshold: float
    attribution: dict[str, Any] | None
    detectors: list[dict[str, Any]]
    missing: list[str]
    warnings: list[str]
    request_id: str | None
    feedback: list[FeedbackOut] = Field(
        default_factory=list,
        description="what users said the file actually is (POST /history/{id}/feedback), newest first",
    )


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    total: int = Field(description="rows matching the filters, over all pages")
    page: int
    page_size: int


class LatencySummary(BaseModel):
    mean: float | None
    p50: float | None
    p95: float | None


class DetectorStats(BaseModel):
    name: str
    calls: int = Field(description="analyses that asked this detector (skipped ones are not counted)")
    by_status: dict[str, int]
    failure_rate: float | None = Field(description="(timeout + error + unavailable) / calls")
    latency_ms: LatencySummary = Field(description="over the calls it answered (ok or abstained)")


class Stats(BaseModel):
    total: int
    by_verdict: dict[str, int]
    by_source: dict[str, int] = Field(description="predicted source; 'none' when nothing attributed it")
    by_media_type: dict[str, int]
    detectors: list[DetectorStats]
