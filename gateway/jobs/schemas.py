"""Answer bodies of the jobs API (/jobs, /jobs/{id}); the results rows are in gateway/jobs/results.py."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.fusion import Verdict

JobState = Literal["queued", "running", "done", "cancelled", "failed"]
ItemState = Literal["queued", "running", "done", "failed", "cancelled"]
PENDING: tuple[ItemState, ...] = ("queued", "running")


class JobOptions(BaseModel):
    """The detection options every item of the job runs with (null: the gateway's default)."""

    ensemble_method: str | None = None
    models: list[str] | None = None
    threshold: float | None = None


class JobProgress(BaseModel):
    """Items by state; ``done`` + ``failed`` + ``cancelled`` of ``total`` are finished."""

    total: int = 0
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def pending(self) -> int:
        return self.queued + self.running


def job_state(progress: JobProgress, cancelled: bool) -> JobState:
    """A job's state from its items': cancelled once cancelled (items already running still finish);
    done once nothing is pending and at least one item was analysed; failed when every item failed."""
    if cancelled:
        return "cancelled"
    if progress.pending == 0:
        return "failed" if progress.done == 0 and progress.failed > 0 else "done"
    if progress.pending < progress.total or progress.running:
        return "running"
    return "queued"


class JobSummary(BaseModel):
    """A job in a list, and the answer to POST /jobs (202)."""

    id: str
    state: JobState
    name: str = Field(description="the archive's name, the single file's name, or '<n> files'")
    username: str | None = Field(description="who submitted it; null when auth was off")
    created_at: datetime
    finished_at: datetime | None = Field(description="when the last item finished (null while pending)")
    cancelled_at: datetime | None
    options: JobOptions
    progress: JobProgress


class JobItemStatus(BaseModel):
    """One file of a job. ``analysis_id`` names its analysis in /history once it is done."""

    seq: int = Field(description="1-based position in the job")
    name: str = Field(description="the uploaded file's name or the archive member's path")
    state: ItemState
    size_bytes: int
    analysis_id: str | None
    verdict: Verdict | None
    score_fake: float | None
    predicted_source: str | None
    error_code: str | None = Field(description="why it failed, e.g. unsupported_media_type, nested_archive")
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class JobDetail(JobSummary):
    """GET /jobs/{id}: the summary plus one page of its items (in upload order)."""

    items: list[JobItemStatus]
    items_total: int = Field(description="items matching item_state (all items without it)")
    page: int
    page_size: int


class JobPage(BaseModel):
    items: list[JobSummary]
    total: int
    page: int
    page_size: int
