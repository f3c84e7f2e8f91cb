"""Recording each detection answer in the history (and the upload, when keep_uploads is on)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path, PurePath

from gateway.db.engine import Database
from gateway.db.models import Analysis, DetectorResult
from gateway.history.uploads import delete_upload, save_upload
from gateway.schemas import DetectionAnswer

log = logging.getLogger("gateway.history")

_MAX_FILENAME = 255


def clean_filename(name: str | None) -> str | None:
    """The client's file name as a label only: its last path part, without control characters, capped."""
    if not name:
        return None
    base = PurePath(name.replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:_MAX_FILENAME] or None


class HistoryRecorder:
    """Writes one history row per analysis. Synchronous: call it off the event loop."""

    def __init__(self, db: Database, data_dir: Path, keep_uploads: bool):
        self.db = db
        self.data_dir = data_dir
        self.keep_uploads = keep_uploads

    def record(
        self,
        answer: DetectionAnswer,
        *,
        data: bytes,
        user_id: int | None,
        filename: str | None,
        request_id: str | None,
    ) -> None:
        stored = save_upload(self.data_dir, answer.id, data) if self.keep_uploads else None
        detectors = [outcome.model_dump(mode="json", exclude={"heatmap_png"}) for outcome in answer.detectors]
        row = Analysis(
            id=answer.id,
            user_id=user_id,
            filename=clean_filename(filename),
            sha256=answer.sha256,
            size_bytes=len(data),
            media_type=answer.media_type,
            verdict=answer.verdict,
            score_fake=answer.score_fake,
            confidence=answer.confidence,
            method=answer.method,
            threshold=answer.threshold,
            predicted_source=answer.attribution.predicted_source if answer.attribution else None,
            attribution=answer.attribution.model_dump(mode="json") if answer.attribution else None,
            detectors=detectors,
            degraded=answer.degraded,
            missing=list(answer.missing),
            warnings=list(answer.warnings),
            elapsed_ms=answer.elapsed_ms,
            request_id=request_id,
            stored_path=stored,
            detector_results=[
                DetectorResult(
                    detector=outcome.name,
                    status=outcome.status.value,
                    prob_fake=outcome.prob_fake,
                    elapsed_ms=outcome.elapsed_ms,
                )
                for outcome in answer.detectors
            ],
        )
        try:
            with self.db.session() as session:
                session.add(row)
        except Exception:
            delete_upload(self.data_dir, stored)  # no orphan files for rows that were never written
            raise


class RequestHistory:
    """The recorder bound to one request's caller: what the detection routes call after answering."""

    def __init__(self, recorder: HistoryRecorder, user_id: int | None, request_id: str | None):
        self.recorder = recorder
        self.user_id = user_id
        self.request_id = request_id

    async def record(self, answer: DetectionAnswer, data: bytes, filename: str | None) -> None:
        """Store the answer; if that fails, the caller still gets the answer, with a warning saying so."""
        try:
            await asyncio.to_thread(
                self.recorder.record,
                answer,
                data=data,
                user_id=self.user_id,
                filename=filename,
                request_id=self.request_id,
            )
        except Exception as exc:
            log.exception("could not record analysis %s in the history", answer.id)
            answer.warnings.append(f"not saved to the history: {type(exc).__name__}")
