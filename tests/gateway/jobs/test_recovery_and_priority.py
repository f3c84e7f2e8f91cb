"""What a start-up does with items a killed gateway left running, and how batch work yields to /detect."""

from __future__ import annotations

import asyncio
import time

from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.history.recorder import HistoryRecorder
from gateway.jobs import store
from gateway.jobs.intake import ItemDraft
from gateway.jobs.priority import InteractiveGate
from gateway.jobs.spool import JobSpool
from gateway.schemas import DetectionAnswer
from support.answers import make_answer

JOB = "ab" * 16


def answer(analysis_id: str) -> DetectionAnswer:
    return make_answer(
        id=analysis_id,
        sha256="0" * 64,
        verdict="real",
        score_fake=0.1,
        confidence=0.8,
        detectors=[],
        elapsed_ms=1.0,
    )


async def test_a_start_settles_items_left_running_without_running_any_twice(
    jobs_gateway, jobs, gw, fakes, tmp_path
):
    data_dir = tmp_path / "data"
    db = Database(f"sqlite:///{data_dir / 'tribunal.db'}")
    upgrade(db.engine)
    spool = JobSpool(data_dir)
    drafts = [ItemDraft(seq=seq, name=f"{seq}.png") for seq in (1, 2, 3)]
    for draft in drafts:
        draft.size_bytes = spool.write(JOB, draft.seq, [gw.image(seed=draft.seq)], 10**6)
    store.create_job(db, JOB, None, "3 files", {}, drafts)
    # Item 1 was killed after its history row was committed, item 2 before; item 3 never started.
    first = store.claim(db, JOB)
    store.record_analysis(db, first.id, "a" * 32)
    HistoryRecorder(db, data_dir, keep_uploads=False).record(
        answer("a" * 32), data=b"x", user_id=None, filename="1.png", request_id=f"job-{JOB}-1"
    )
    second = store.claim(db, JOB)
    store.record_analysis(db, second.id, "b" * 32)
    db.dispose()

    async with jobs_gateway(data_dir=data_dir) as client:
        job = await jobs.wait(client, JOB)
        history = (await client.get("/history")).json()
    items = {item["seq"]: item for item in job["items"]}
    assert items[1]["state"] == "done" and items[1]["analysis_id"] == "a" * 32
    assert items[1]["verdict"] == "real"  # read back from its history row, not detected again
    assert items[2]["state"] == "done" and items[2]["analysis_id"] != "b" * 32
    assert items[3]["state"] == "done"
    assert fakes.calls["a"] == 2  # items 2 and 3 only
    assert history["total"] == 3


async def test_a_start_cancels_a_running_item_of_a_cancelled_job(jobs_gateway, jobs, gw, fakes, tmp_path):
    data_dir = tmp_path / "data"
    db = Database(f"sqlite:///{data_dir / 'tribunal.db'}")
    upgrade(db.engine)
    spool = JobSpool(data_dir)
    drafts = [ItemDraft(seq=1, name="1.png"), ItemDraft(seq=2, name="2.png")]
    for draft in drafts:
        draft.size_bytes = spool.write(JOB, draft.seq, [gw.image()], 10**6)
    store.create_job(db, JOB, None, "2 files", {}, drafts)
    store.claim(db, JOB)
    store.cancel(db, JOB)
    db.dispose()
    async with jobs_gateway(data_dir=data_dir) as client:
        job = await jobs.wait(client, JOB)
    assert job["state"] == "cancelled" and job["progress"]["cancelled"] == 2
    assert fakes.calls["a"] == 0
    assert not (data_dir / "jobs" / JOB).exists()  # swept at start: nothing left to run


async def test_batch_items_wait_while_interactive_detections_run():
    gate = InteractiveGate(quiet_s=0.2, max_wait_s=5.0)
    gate.enter()
    waiter = asyncio.create_task(gate.wait_turn())
    await asyncio.sleep(0.3)
    assert not waiter.done()  # an interactive request is in flight
    gate.leave()
    started = time.monotonic()
    await waiter
    assert time.monotonic() - started >= 0.15  # and then the quiet period


async def test_batch_items_are_never_held_back_longer_than_max_yield():
    gate = InteractiveGate(quiet_s=0.2, max_wait_s=0.3)
    gate.enter()  # never leaves: unbroken interactive load
    started = time.monotonic()
    await gate.wait_turn()
    assert 0.25 <= time.monotonic() - started < 1.0


async def test_detect_requests_hold_the_gate(jobs_gateway, gw, fakes):
    fakes.set("a", fakes.ok(0.5, delay_s=0.3))
    async with jobs_gateway(gw.registry("a")) as client:
        gate = client.app.state.jobs.gate  # type: ignore[attr-defined]
        request = asyncio.create_task(client.post("/detect", files={"file": ("a.png", gw.image())}))
        await asyncio.sleep(0.1)
        assert gate.in_flight == 1 and gate.busy()
        assert (await request).status_code == 200
        assert gate.in_flight == 0
        await client.get("/jobs")
        assert gate.in_flight == 0  # only /detect and /predict count
