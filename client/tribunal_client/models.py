"""Typed results: plain frozen dataclasses over the gateway's JSON (unknown fields are kept in ``raw``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

Verdict = Literal["fake", "real", "uncertain"]

T = TypeVar("T")


def _known(cls: type[T], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {key: value for key, value in data.items() if key in names}


@dataclass(frozen=True)
class DetectorResult:
    """One detector's part in an answer; ``status`` is ok, abstained, timeout, error, unavailable or skipped."""

    name: str
    status: str
    prob_fake: float | None = None
    class_probs: dict[str, float] | None = None
    reason: str | None = None
    version: str | None = None
    elapsed_ms: float | None = None
    error: str | None = None
    heatmap_png: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorResult:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Attribution:
    predicted_source: str
    probs: dict[str, float]


@dataclass(frozen=True)
class Detection:
    """The answer to ``POST /detect``."""

    id: str
    sha256: str
    media_type: str
    verdict: Verdict
    score_fake: float | None
    confidence: float | None
    method: str
    threshold: float
    attribution: Attribution | None
    detectors: list[DetectorResult]
    degraded: bool
    missing: list[str]
    warnings: list[str]
    elapsed_ms: float
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detection:
        attribution = data.get("attribution")
        return cls(
            id=data["id"],
            sha256=data["sha256"],
            media_type=data["media_type"],
            verdict=data["verdict"],
            score_fake=data.get("score_fake"),
            confidence=data.get("confidence"),
            method=data.get("method", ""),
            threshold=data.get("threshold", 0.5),
            attribution=Attribution(**_known(Attribution, attribution)) if attribution else None,
            detectors=[DetectorResult.from_dict(d) for d in data.get("detectors", [])],
            degraded=bool(data.get("degraded", False)),
            missing=list(data.get("missing", [])),
            warnings=list(data.get("warnings", [])),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
            raw=data,
        )

    @property
    def predicted_source(self) -> str | None:
        return self.attribution.predicted_source if self.attribution else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


@dataclass(frozen=True)
class HistoryItem:
    """One row of ``GET /history``."""

    id: str
    created_at: datetime | None
    username: str | None
    filename: str | None
    sha256: str
    size_bytes: int
    media_type: str
    verdict: Verdict
    score_fake: float | None
    confidence: float | None
    method: str
    predicted_source: str | None
    degraded: bool
    elapsed_ms: float
    has_file: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryItem:
        values = _known(cls, data)
        values["created_at"] = _time(values.get("created_at"))
        return cls(**values)


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    total: int
    page: int
    page_size: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryPage:
        return cls(
            items=[HistoryItem.from_dict(item) for item in data.get("items", [])],
            total=int(data.get("total", 0)),
            page=int(data.get("page", 1)),
            page_size=int(data.get("page_size", 0)),
        )

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size)) if self.page_size else 1


@dataclass(frozen=True)
class ModelInfo:
    """One registered detector with its live state, from ``GET /models``."""

    name: str
    enabled: bool = True
    media_types: list[str] = field(default_factory=list)
    ready: bool | None = None
    reason: str | None = None
    version: str | None = None
    backbone: str | None = None
    url: str | None = None
    weight: float | None = None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        values = _known(cls, data)
        values["raw"] = data
        return cls(**values)


@dataclass(frozen=True)
class Models:
    detectors: list[ModelInfo]
    media_types: list[str]
    ensemble_methods: list[str]
    default_method: str | None
    threshold: float | None
    uncertainty_band: float | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Models:
        return cls(
            detectors=[ModelInfo.from_dict(d) for d in data.get("detectors", [])],
            media_types=list(data.get("media_types", [])),
            ensemble_methods=list(data.get("ensemble_methods", [])),
            default_method=data.get("default_method"),
            threshold=data.get("threshold"),
            uncertainty_band=data.get("uncertainty_band"),
            raw=data,
        )


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None
    token_type: str = "bearer"


@dataclass(frozen=True)
class JobProgress:
    """Items of a job by state; finished = done + failed + cancelled."""

    total: int = 0
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def pending(self) -> int:
        return self.queued + self.running

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.cancelled


@dataclass(frozen=True)
class JobItem:
    """One file of a job, from ``GET /jobs/{id}``; ``analysis_id`` names its analysis once done."""

    seq: int
    name: str
    state: str
    size_bytes: int = 0
    analysis_id: str | None = None
    verdict: Verdict | None = None
    score_fake: float | None = None
    predicted_source: str | None = None
    error_code: str | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobItem:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Job:
    """A batch job: ``state`` is queued, running, done, cancelled or failed. ``items`` holds one page of
    its items (``GET /jobs/{id}``; empty in the answers of POST /jobs and GET /jobs)."""

    id: str
    state: str
    name: str
    progress: JobProgress
    username: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    cancelled_at: datetime | None = None
    options: dict[str, Any] = field(default_factory=dict)
    items: list[JobItem] = field(default_factory=list)
    items_total: int = 0
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=data["id"],
            state=data["state"],
            name=data.get("name", ""),
            progress=JobProgress(**_known(JobProgress, data.get("progress", {}))),
            username=data.get("username"),
            created_at=_time(data.get("created_at")),
            finished_at=_time(data.get("finished_at")),
            cancelled_at=_time(data.get("cancelled_at")),
            options=dict(data.get("options") or {}),
            items=[JobItem.from_dict(item) for item in data.get("items", [])],
            items_total=int(data.get("items_total", 0)),
            raw=data,
        )


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    total: int
    page: int
    page_size: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobPage:
        return cls(
            items=[Job.from_dict(job) for job in data.get("items", [])],
            total=int(data.get("total", 0)),
            page=int(data.get("page", 1)),
            page_size=int(data.get("page_size", 0)),
        )


@dataclass(frozen=True)
class JobResult:
    """One row of ``GET /jobs/{id}/results``: every item has one, whatever its state."""

    seq: int
    name: str
    state: str
    verdict: Verdict | None = None
    score_fake: float | None = None
    predicted_source: str | None = None
    analysis_id: str | None = None
    error_code: str | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        return cls(**_known(cls, data))
