"""Running one job item exactly as a /detect of its file: the same detection service, the same history
recorder, the same metrics, and the item's owner's detection quota.

The order is what makes a restart safe (gateway/jobs/store.py): the answer's id is written on the item,
then the history row is committed, then the item is marked done. The quota is the owner's per-minute
detection limit; where /detect answers 429, an item waits for its turn instead, so a job is slowed to
the owner's rate but never failed by it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gateway.auth.identity import Identity
from gateway.detection import DetectionOptions
from gateway.errors import RateLimited, TribunalError
from gateway.history.recorder import HistoryEntry
from gateway.jobs import store
from gateway.jobs.spool import JobSpool
from gateway.schemas import DetectionAnswer
from tribunal_sdk.logs import request_id_var

if TYPE_CHECKING:
    from gateway.routes.deps import Gateway

log = logging.getLogger("gateway.jobs")

# Pauses before retrying an item whose detection answered 503, by attempt (the last repeats).
RETRY_PAUSES_S = (2.0, 5.0, 15.0, 30.0)


def owner_rate_key(user_id: int | None) -> str | None:
    """The key the owner's /detect calls count against (none for jobs nobody owns: auth off)."""
    return Identity(user_id=user_id, username=None, role=None, via="api_key").rate_key if user_id else None


class ItemRunner:
    """Runs claimed items (see the module docstring); ``sleep`` is injectable for tests."""

    def __init__(
        self,
        gateway: Gateway,
        spool: JobSpool,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.gateway = gateway
        self.spool = spool
        self.sleep = sleep

    async def run(self, item: store.ClaimedItem) -> None:
        request_id = f"job-{item.job_id}-{item.seq}"
        request_id_var.set(request_id)  # this task's log lines carry it, as a request's do
        db = self.gateway.db
        try:
            data = await asyncio.to_thread(self.spool.read, item.job_id, item.seq)
        except FileNotFoundError:
            await self._fail(
                item,
                "upload_missing",
                "the uploaded file of this item is no longer in the job's folder (was data_dir cleaned?); "
                "submit it again",
            )
            return
        options = DetectionOptions(
            method=item.options.get("ensemble_method"),
            models=item.options.get("models"),
            threshold=item.options.get("threshold"),
        )
        answer = await self._detect(item, data, options, request_id)
        if answer is None:
            return
        await asyncio.to_thread(store.record_analysis, db, item.id, answer.id)
        try:
            await self.gateway.history.save(HistoryEntry(answer, data, item.user_id, item.name, request_id))
        except Exception as exc:
            log.exception("job item %s/%d: the history row could not be written", item.job_id, item.seq)
            await self._fail(
                item,
                "history_unavailable",
                f"the analysis could not be recorded in the history ({type(exc).__name__}); submit the file again",
            )
            return
        method = options.method or self.gateway.settings.default_method
        self.gateway.metrics.observe_answer(answer.media_type, answer.verdict, method, answer.score_fake)
        await asyncio.to_thread(store.finish_done, db, item.id, answer)
        await asyncio.to_thread(self.spool.discard, item.job_id, item.seq)
        log.info(
            "job item done",
            extra={
                "fields": {
                    "job_id": item.job_id,
                    "seq": item.seq,
                    "analysis_id": answer.id,
                    "verdict": answer.verdict,
                    "attempts": item.attempts,
                }
            },
        )

    async def _detect(
        self, item: store.ClaimedItem, data: bytes, options: DetectionOptions, request_id: str
    ) -> DetectionAnswer | None:
        """The answer, or None once the item is recorded as failed (a 4xx, or 503 after the retries)."""
        retries = self.gateway.settings.jobs_item_retries
        for attempt in range(retries + 1):
            await self._take_quota(item.user_id)
            try:
                return await self.gateway.service.detect(data, options, request_id=request_id)
            except TribunalError as exc:
                if exc.status_code == 503 and attempt < retries:
                    pause = RETRY_PAUSES_S[min(attempt, len(RETRY_PAUSES_S) - 1)]
                    log.warning(
                        "job item %s/%d: %s; retrying in %.0f s", item.job_id, item.seq, exc.code, pause
                    )
                    await self.sleep(pause)
                    continue
                await self._fail(item, exc.code, exc.detail)
                return None
        raise AssertionError("unreachable: the last attempt returns or fails")

    async def _take_quota(self, user_id: int | None) -> None:
        """One detection from the owner's per-minute limit, waiting as long as the limit asks."""
        key = owner_rate_key(user_id)
        if key is None:
            return
        while True:
            try:
                self.gateway.detect_limiter.check(key)
                return
            except RateLimited as exc:
                await self.sleep(exc.retry_after_s)

    async def _fail(self, item: store.ClaimedItem, code: str, detail: str) -> None:
        await asyncio.to_thread(store.finish_failed, self.gateway.db, item.id, code, detail)
        await asyncio.to_thread(self.spool.discard, item.job_id, item.seq)
        log.info(
            "job item failed",
            extra={"fields": {"job_id": item.job_id, "seq": item.seq, "error": code}},
        )
