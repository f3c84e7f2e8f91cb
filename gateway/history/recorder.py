"""Recording each detection answer in the history (and the upload, when keep_uploads is on).

Group commit, not a fire-and-forget queue
-----------------------------------------
Every request that got an answer puts its row in one queue and waits for the transaction that carries
it (``gateway/history/batching.py``); a single writer takes everything queued (up to
``history_batch_rows``) and inserts it with two bulk statements in one transaction. Requests that
arrive while a batch is being committed form the next batch, so at concurrency 1 a row is written at
once, as before, and under load one transaction (one WAL append, one lock round, one fsync where the
database does one) serves many answers.

Why the answer waits for its row rather than being sent while the row sits in a queue: the rule the
soak checks is "every 200 answer is one history row", and ``GET /history/{id}`` right after a 200 must
find the row. A row only queued in memory when its answer leaves is lost if the gateway is killed a
moment later, and is not yet readable by the client's next request. Queuing durably instead (a local
journal file, fsynced before answering) would cost a write and an fsync per request - the very cost
being removed - plus a replay step at start-up. Waiting for a shared commit keeps both guarantees for
the price of one commit's latency (a few milliseconds), and what leaves the hot path is the per-row
work: no ORM unit of work, no thread hop per request (unless keep_uploads writes the file), one
transaction per batch instead of per row.

"Committed" is the database's word: on SQLite (WAL, ``synchronous=NORMAL``, gateway/db/engine.py) a
committed row survives the gateway being killed, and only a power cut may take the last commits;
with one commit per batch, ``synchronous=FULL`` (an fsync per commit) would now cost little per row.

A failed batch is retried row by row, so one row the database refuses costs only its own answer a
"not saved to the history" warning; an answer without that warning always has its row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import InterfaceError, OperationalError

from gateway.db.engine import Database
from gateway.db.models import Analysis, DetectorResult, utcnow
from gateway.history.batching import GroupCommit
from gateway.history.uploads import delete_upload, save_upload
from gateway.schemas import DetectionAnswer

log = logging.getLogger("gateway.history")

_MAX_FILENAME = 255
DEFAULT_BATCH_ROWS = 256


def clean_filename(name: str | None) -> str | None:
    """The client's file name as a label only: its last path part, without control characters, capped."""
    if not name:
        return None
    base = PurePath(name.replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:_MAX_FILENAME] or None


@dataclass
class HistoryEntry:
    """One answer to record, as the request hands it over (the row is built by the writer)."""

    answer: DetectionAnswer
    data: bytes  # the upload: its length is recorded; its bytes are kept only with keep_uploads
    user_id: int | None
    filename: str | None
    request_id: str | None
    created_at: datetime = field(default_factory=utcnow)  # when it was answered, not when the batch ran
    stored: str | None = None  # the kept upload, once saved (relative to data_dir)


@dataclass
class _Prepared:
    analysis: dict[str, Any]
    detectors: list[dict[str, Any]]
    stored: str | None


class HistoryRecorder:
    """Writes history rows: ``await save(entry)`` shares a transaction with concurrent saves (the
    detection routes); ``record(...)`` writes one row at once (synchronous: call it off the event loop)."""

    def __init__(
        self, db: Database, data_dir: Path, keep_uploads: bool, batch_rows: int = DEFAULT_BATCH_ROWS
    ):
        self.db = db
        self.data_dir = data_dir
        self.keep_uploads = keep_uploads
        # The writer looks ``write`` up on each batch, so a test may replace it on the instance.
        self.batches: GroupCommit[HistoryEntry] = GroupCommit(lambda rows: self.write(rows), batch_rows)

    async def save(self, entry: HistoryEntry) -> None:
        """Return once ``entry``'s row is committed; raise what kept it from the database."""
        if self.keep_uploads and entry.stored is None:
            # Each request writes its own file (they can be large videos); the single writer only
            # deletes the files of rows it could not write.
            entry.stored = await asyncio.to_thread(save_upload, self.data_dir, entry.answer.id, entry.data)
        await self.batches.submit(entry)

    async def aclose(self) -> None:
        """Wait until every queued row and cleanup step is done (the app's shutdown)."""
        await self.batches.drain()

    def record(
        self,
        answer: DetectionAnswer,
        *,
        data: bytes,
        user_id: int | None,
        filename: str | None,
        request_id: str | None,
    ) -> None:
        """Write one row now, in its own transaction; raises if it could not be written."""
        entry = HistoryEntry(answer, data, user_id, filename, request_id)
        error = self.write([entry])[0]
        if error is not None:
            raise error

    def write(self, entries: Sequence[HistoryEntry]) -> list[BaseException | None]:
        """Write ``entries`` in one transaction; per entry, None once committed or what failed it.

        When the shared transaction fails over what it holds, each row is tried again alone, so only the
        rows the database refuses are reported; when it fails over the database itself (unreachable,
        locked, disk full), every row fails at once. Kept files are written before their row and removed
        again when the row is not written: no row without its file, no orphan file.
        """
        outcomes: list[BaseException | None] = [None] * len(entries)
        prepared: list[tuple[int, _Prepared]] = []
        for index, entry in enumerate(entries):
            try:
                prepared.append((index, self._prepare(entry)))
            except Exception as exc:
                outcomes[index] = exc
                delete_upload(self.data_dir, entry.stored)
        if not prepared:
            return outcomes
        try:
            self._insert([p for _, p in prepared])
            return outcomes
        except Exception as exc:
            if len(prepared) == 1 or isinstance(exc, OperationalError | InterfaceError):
                for index, row in prepared:
                    outcomes[index] = exc
                    delete_upload(self.data_dir, row.stored)
                return outcomes
            log.warning("history batch of %d rows failed (%s); writing them one by one", len(prepared), exc)
        for index, row in prepared:
            try:
                self._insert([row])
            except Exception as exc:
                outcomes[index] = exc
                delete_upload(self.data_dir, row.stored)
        return outcomes

    def _prepare(self, entry: HistoryEntry) -> _Prepared:
        answer = entry.answer
        stored = entry.stored
        if stored is None and self.keep_uploads:
            stored = entry.stored = save_upload(self.data_dir, answer.id, entry.data)
        attribution = answer.attribution
        analysis = {
            "id": answer.id,
            "user_id": entry.user_id,
            "created_at": entry.created_at,
            "filename": clean_filename(entry.filename),
            "sha256": answer.sha256,
            "size_bytes": len(entry.data),
            "media_type": answer.media_type,
            "verdict": answer.verdict,
            "score_fake": answer.score_fake,
            "confidence": answer.confidence,
            "method": _fits(answer.method, Analysis.__table__.c.method.type.length),
            "threshold": answer.threshold,
            "predicted_source": attribution.predicted_source if attribution else None,
            "attribution": attribution.model_dump(mode="json") if attribution else None,
            # The per-detector results as answered, minus heatmaps (large, recomputable with explain).
            "detectors": [o.model_dump(mode="json", exclude={"heatmap_png"}) for o in answer.detectors],
            "degraded": answer.degraded,
            "missing": list(answer.missing),
            "warnings": list(answer.warnings),
            "elapsed_ms": answer.elapsed_ms,
            "request_id": entry.request_id,
            "stored_path": stored,
        }
        detectors = [
            {
                "analysis_id": answer.id,
                "detector": o.name,
                "status": o.status.value,
                "prob_fake": o.prob_fake,
                "elapsed_ms": o.elapsed_ms,
            }
            for o in answer.detectors
        ]
        return _Prepared(analysis, detectors, stored)

    def _insert(self, rows: list[_Prepared]) -> None:
        """Two bulk INSERTs (executemany) in one transaction; Core statements, no ORM unit of work."""
        detector_rows = [d for row in rows for d in row.detectors]
        with self.db.engine.begin() as connection:
            connection.execute(insert(Analysis.__table__), [row.analysis for row in rows])
            if detector_rows:
                connection.execute(insert(DetectorResult.__table__), detector_rows)


class RequestHistory:
    """The recorder bound to one request's caller: what the detection routes call after answering."""

    def __init__(self, recorder: HistoryRecorder, user_id: int | None, request_id: str | None):
        self.recorder = recorder
        self.user_id = user_id
        self.request_id = request_id

    async def record(self, answer: DetectionAnswer, data: bytes, filename: str | None) -> None:
        """Store the answer before it is sent; if that fails, the caller still gets the answer, with a
        warning saying so."""
        try:
            await self.recorder.save(HistoryEntry(answer, data, self.user_id, filename, self.request_id))
        except Exception as exc:
            log.exception("could not record analysis %s in the history", answer.id)
            answer.warnings.append(f"not saved to the history: {type(exc).__name__}")


def _fits(text: str, length: int) -> str:
    """``text`` cut to a column's ``length`` (PostgreSQL refuses longer strings; SQLite would keep them).

    The answer's ``method`` carries the reason when stacking falls back to averaging, which can outgrow
    the column; the full text is in the answer and the log line, the row keeps its start."""
    return text if len(text) <= length else text[: length - 1] + "…"
