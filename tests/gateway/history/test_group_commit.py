"""History writes by group commit, through the real app and a real SQLite file: concurrent answers share
one transaction, every answer is readable as soon as it is sent, and a row the database refuses shows as
that answer's warning, never as a silently missing row."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, event, func, select, text

from gateway.db.models import Analysis, DetectorResult
from gateway.history.batching import GroupCommit

pytestmark = pytest.mark.timeout(120)

UNSAVED = "not saved to the history"


class Transactions:
    """Rows inserted into ``analyses`` per committed transaction, as the engine saw them."""

    def __init__(self, engine: Engine):
        self.committed: list[int] = []
        self._open = 0
        self._lock = threading.Lock()
        event.listen(engine, "after_execute", self._executed)
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", self._rolled_back)

    def _executed(self, _conn, clause, multiparams, _params, _options, _result) -> None:  # type: ignore[no-untyped-def]
        if getattr(clause, "table", None) is Analysis.__table__ and clause.is_insert:
            with self._lock:
                self._open += len(multiparams) or 1  # executemany: one dict per row

    def _committed(self, _conn) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            if self._open:  # reads (GET /history) commit too; only inserting transactions count
                self.committed.append(self._open)
            self._open = 0

    def _rolled_back(self, _conn) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self._open = 0


class HoldFirstInsert:
    """Blocks the first history INSERT (in the writer's thread) until released, so that the test decides
    what the next batch holds."""

    def __init__(self, engine: Engine):
        self.entered = threading.Event()
        self._release = threading.Event()
        self._done = False
        event.listen(engine, "before_execute", self._before)

    def _before(self, _conn, clause, *_args) -> None:  # type: ignore[no-untyped-def]
        if self._done or getattr(clause, "table", None) is not Analysis.__table__ or not clause.is_insert:
            return
        self._done = True
        self.entered.set()
        assert self._release.wait(30), "the test never released the held batch"

    def release(self) -> None:
        self._release.set()


async def until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def detect(client, png: bytes, name: str) -> dict:
    response = await client.post("/detect", files={"file": (name, png, "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


async def held_burst(client, png: bytes, names: list[str]) -> list[dict]:
    """One detection whose row write is held, then ``names`` sent at once: they queue behind it and are
    written together as the next batch. The held answer comes first in the result."""
    gateway = client.app.state.gateway
    hold = HoldFirstInsert(gateway.db.engine)
    first = asyncio.create_task(detect(client, png, "first.png"))
    await until(hold.entered.is_set)
    rest = [asyncio.create_task(detect(client, png, name)) for name in names]
    await until(lambda: gateway.history.batches.queued == len(names))
    hold.release()
    return await asyncio.gather(first, *rest)


def row_ids(client) -> set[str]:
    with client.app.state.gateway.db.session() as session:
        return set(session.scalars(select(Analysis.id)))


async def test_concurrent_answers_share_one_transaction_and_each_is_readable_at_once(
    gateway_client, fakes, gw, png
):
    fakes.set("a", fakes.ok(0.7))
    fakes.set("b", fakes.ok(0.3))
    async with gateway_client(gw.registry("a", "b")) as client:
        transactions = Transactions(client.app.state.gateway.db.engine)

        async def detect_then_read(name: str) -> dict:
            answer = await detect(client, png, name)
            # Read-your-writes: the row is there as soon as the answer is.
            detail = await client.get(f"/history/{answer['id']}")
            assert detail.status_code == 200, detail.text
            assert detail.json()["filename"] == name
            return answer

        hold = HoldFirstInsert(client.app.state.gateway.db.engine)
        first = asyncio.create_task(detect_then_read("first.png"))
        await until(hold.entered.is_set)
        names = [f"photo{i}.png" for i in range(40)]
        rest = [asyncio.create_task(detect_then_read(name)) for name in names]
        await until(lambda: client.app.state.gateway.history.batches.queued == len(names))
        hold.release()
        answers = await asyncio.gather(first, *rest)

        ids = {answer["id"] for answer in answers}
        assert len(ids) == 41
        assert not any(UNSAVED in w for answer in answers for w in answer["warnings"])
        assert row_ids(client) == ids
        # The held row's transaction, then one transaction for the 40 that queued behind it.
        assert transactions.committed == [1, 40]
        assert client.app.state.gateway.history.batches.batches == 2
        with client.app.state.gateway.db.session() as session:
            assert session.scalar(select(func.count()).select_from(DetectorResult)) == 2 * 41


async def test_many_concurrent_detections_are_exactly_as_many_rows(gateway_client, fakes, gw, png):
    """Unheld: however the writer happens to batch them, one row per answer and fewer commits than rows."""
    fakes.set("a", fakes.ok(0.7, delay_s=0.002))
    async with gateway_client(gw.registry("a"), history_batch_rows=16) as client:
        transactions = Transactions(client.app.state.gateway.db.engine)
        answers = await asyncio.gather(*(detect(client, png, f"p{i}.png") for i in range(120)))
        assert row_ids(client) == {answer["id"] for answer in answers}
        assert sum(transactions.committed) == 120
        assert max(transactions.committed) <= 16  # history_batch_rows caps a transaction
        assert len(transactions.committed) < 120


async def test_a_row_the_database_refuses_costs_only_its_own_answer_a_warning(gateway_client, fakes, gw, png):
    fakes.set("a", fakes.ok(0.7))
    async with gateway_client(gw.registry("a")) as client:
        with client.app.state.gateway.db.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON analyses WHEN NEW.filename = 'poison.png' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        names = [f"ok{i}.png" for i in range(10)] + ["poison.png"] + [f"ok{i}.png" for i in range(10, 20)]
        first, *answers = await held_burst(client, png, names)

        by_name = dict(zip(names, answers, strict=True))
        poisoned = by_name.pop("poison.png")
        assert poisoned["warnings"] == [f"{UNSAVED}: IntegrityError"]
        assert poisoned["verdict"] == "fake"  # the caller still gets the answer
        assert (await client.get(f"/history/{poisoned['id']}")).status_code == 404
        for answer in [first, *by_name.values()]:
            assert answer["warnings"] == []
            assert (await client.get(f"/history/{answer['id']}")).status_code == 200
        assert row_ids(client) == {first["id"]} | {answer["id"] for answer in by_name.values()}


async def test_when_no_row_can_be_written_every_answer_says_so(gateway_client, fakes, gw, png):
    fakes.set("a", fakes.ok(0.7))
    async with gateway_client(gw.registry("a")) as client:
        with client.app.state.gateway.db.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_all BEFORE INSERT ON analyses BEGIN SELECT RAISE(ABORT, 'no'); END"
                )
            )
        answers = await asyncio.gather(*(detect(client, png, f"p{i}.png") for i in range(12)))
        assert all(answer["warnings"] == [f"{UNSAVED}: IntegrityError"] for answer in answers)
        assert row_ids(client) == set()


async def test_an_answer_without_the_warning_always_has_its_row(gateway_client, fakes, gw, png):
    """The invariant the soak checks, under a writer that fails now and then, whole batches at a time."""
    fakes.set("a", fakes.ok(0.7, delay_s=0.001))
    async with gateway_client(gw.registry("a"), history_batch_rows=8) as client:
        history = client.app.state.gateway.history
        real_write = history.write
        calls = 0

        def flaky(entries):
            nonlocal calls
            calls += 1
            if calls % 3 == 0:
                raise OSError("disk went away")
            return real_write(entries)

        history.write = flaky
        answers = await asyncio.gather(*(detect(client, png, f"p{i}.png") for i in range(60)))
        saved = {a["id"] for a in answers if not any(UNSAVED in w for w in a["warnings"])}
        unsaved = {a["id"] for a in answers if a["warnings"] == [f"{UNSAVED}: OSError"]}
        assert len(saved) + len(unsaved) == 60
        assert unsaved, "the flaky writer should have failed some batch"
        assert row_ids(client) == saved


async def test_a_caller_that_stops_waiting_does_not_lose_its_row(tmp_path):
    """A dropped connection cancels the request while its row waits for the writer; the row is still
    written (the answer was computed; whether it reached the client is not the history's to judge)."""
    written: list[int] = []
    release = threading.Event()

    def write(items: list[int]) -> list[BaseException | None]:
        if items == [0]:
            release.wait(10)
        written.extend(items)
        return [None] * len(items)

    batches: GroupCommit[int] = GroupCommit(write, max_batch=10)
    first = asyncio.create_task(batches.submit(0))
    await asyncio.sleep(0.01)
    abandoned = asyncio.create_task(batches.submit(1))
    kept = asyncio.create_task(batches.submit(2))
    await until(lambda: batches.queued == 2)
    abandoned.cancel()
    release.set()
    await asyncio.gather(first, kept)
    await batches.drain()
    assert written == [0, 1, 2]
    assert batches.batches == 2


async def test_jobs_run_between_batches_never_beside_one():
    running = threading.Lock()
    order: list[str] = []

    def write(items: list[str]) -> list[BaseException | None]:
        assert running.acquire(blocking=False), "two writes at once"
        try:
            time.sleep(0.005)
            order.extend(items)
        finally:
            running.release()
        return [None] * len(items)

    def job() -> str:
        assert running.acquire(blocking=False), "a job beside a write"
        try:
            order.append("job")
            return "done"
        finally:
            running.release()

    batches: GroupCommit[str] = GroupCommit(write, max_batch=2)
    results = await asyncio.gather(
        *(batches.submit(f"r{i}") for i in range(5)), batches.run(job), batches.run(lambda: 1 / 0),
        return_exceptions=True,
    )  # fmt: skip
    assert results[:6] == [None] * 5 + ["done"]
    assert isinstance(results[6], ZeroDivisionError)
    assert sorted(order) == sorted([f"r{i}" for i in range(5)] + ["job"])
    assert batches.batches == 3  # 2 + 2 + 1


async def test_a_database_that_fails_itself_fails_the_batch_without_retrying_each_row(
    gateway_client, fakes, gw, png
):
    """Row-by-row retries isolate a row the database refuses; they would only multiply the wait when the
    database itself is the problem (here: a table gone, an OperationalError)."""
    fakes.set("a", fakes.ok(0.7))
    async with gateway_client(gw.registry("a"), keep_uploads=True) as client:
        gateway = client.app.state.gateway
        inserts = []
        event.listen(
            gateway.db.engine,
            "before_execute",
            lambda _c, clause, *_a: inserts.append(1) if getattr(clause, "is_insert", False) else None,
        )
        with gateway.db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE detector_results RENAME TO detector_results_gone"))
        first, *answers = await held_burst(client, png, [f"p{i}.png" for i in range(6)])
        assert all(a["warnings"] == [f"{UNSAVED}: OperationalError"] for a in [first, *answers])
        assert len(inserts) == 4  # two batches (the held one, then the six), two INSERTs each, no retries
        assert row_ids(client) == set()
        # Each request saved its kept file before queueing; the writer removed the files of unsaved rows.
        assert not list((gateway.settings.data_dir / "uploads").rglob("*.png"))
