"""GET /jobs/{id}/results: one row per item, as JSON lines or CSV, streamed page by page.

Every item has its row whatever its state, in upload order, so a client can match rows to files by
``seq`` or ``name``; items not finished yet have an empty verdict.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from gateway.db.engine import Database
from gateway.db.models import JobItem
from gateway.jobs.queries import items_after

ResultFormat = Literal["jsonl", "csv"]
COLUMNS = [
    "seq",
    "name",
    "state",
    "verdict",
    "score_fake",
    "predicted_source",
    "analysis_id",
    "error_code",
    "error",
]
MEDIA_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
_PAGE = 500


def result_row(item: JobItem) -> dict[str, Any]:
    return {
        "seq": item.seq,
        "name": item.name,
        "state": item.state,
        "verdict": item.verdict,
        "score_fake": item.score_fake,
        "predicted_source": item.predicted_source,
        "analysis_id": item.analysis_id if item.state == "done" else None,
        "error_code": item.error_code,
        "error": item.error,
    }


def _rows(db: Database, job_id: str) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        # A short session per page: a slow reader never holds a transaction open.
        with db.session() as session:
            items = items_after(session, job_id, after, _PAGE)
            rows = [result_row(item) for item in items]
        yield from rows
        if len(rows) < _PAGE:
            return
        after = rows[-1]["seq"]


def stream_results(db: Database, job_id: str, fmt: ResultFormat) -> Iterator[str]:
    """The body of GET /jobs/{id}/results (blocking: Starlette iterates it in a worker thread)."""
    if fmt == "jsonl":
        for row in _rows(db, job_id):
            yield json.dumps(row) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in _rows(db, job_id):
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
