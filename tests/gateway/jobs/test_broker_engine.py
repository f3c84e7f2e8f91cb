"""The broker engine in one process against a real PostgreSQL server: the gateway only enqueues, and a
worker's task runs an item once, whatever is delivered twice or cut short. Choosing the engine by name is
checked here too. The multi-process test with a SIGKILLed worker is test_broker_workers.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update

from gateway.db.models import Analysis, JobItem
from gateway.jobs.broker import enqueue_pending, items_without_task
from gateway.jobs.runner import ItemRunner
from gateway.jobs.worker import ItemBusy, ItemTask
from gateway.settings import SettingsError, load_settings
from support.postgres import PostgresServer, running_postgres


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_postgres() as running:
        yield running


@pytest.fixture
def broker_settings(server: PostgresServer) -> dict:
    return {
        "jobs_engine": "procrastinate",
        "database_url": server.create_database("j_" + secrets.token_hex(6)),
        "jwt_secret": secrets.token_urlsafe(48),
    }


def test_the_engine_is_chosen_by_name_and_a_wrong_choice_is_a_clear_error(tmp_path):
    assert load_settings(data_dir=tmp_path).jobs_engine == "embedded"  # make start: nothing else to run
    with pytest.raises(
        SettingsError, match=r"jobs_engine: unknown jobs engine 'celery'; known: embedded, procrastinate"
    ):
        load_settings(data_dir=tmp_path, jobs_engine="celery")
    with pytest.raises(SettingsError, match=r"queues on PostgreSQL: set database_url"):
        load_settings(data_dir=tmp_path, jobs_engine="procrastinate")  # SQLite by default
    with pytest.raises(SettingsError, match=r"at least twice jobs_worker_heartbeat_s"):
        load_settings(
            data_dir=tmp_path,
            jobs_engine="procrastinate",
            database_url="postgresql+psycopg://u:p@db/tribunal",
            jobs_worker_heartbeat_s=10,
            jobs_worker_stalled_s=15,
        )


def rows(db, model_column, *where) -> int:
    with db.session() as session:
        return session.scalar(select(func.count(model_column)).where(*where)) or 0


async def test_the_gateway_only_enqueues_and_a_worker_task_runs_each_item_once(
    jobs_gateway, jobs, gw, broker_settings
):
    async with jobs_gateway(**broker_settings) as client:
        response = await client.post(
            "/jobs", files=[("files", (f"{i}.png", gw.image(seed=i), "image/png")) for i in range(2)]
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        gateway = client.app.state.gateway
        db = gateway.db
        engine = client.app.state.jobs

        # Enqueued in the broker (procrastinate's table in the same database), and nothing run here.
        await enqueue_pending(engine.app, db)  # what the gateway's sweep does; a second sweep adds nothing
        assert items_without_task(db) == []
        assert (await client.get(f"/jobs/{job_id}")).json()["progress"]["queued"] == 2
        with db.session() as session:
            first, second = session.scalars(
                select(JobItem.id).where(JobItem.job_id == job_id).order_by(JobItem.seq)
            )

        task = ItemTask(ItemRunner(gateway, engine.spool), broker_settings["database_url"])
        # A live worker holds the item (e.g. one whose heartbeats were late): a second delivery waits.
        async with task.item_lock(first) as held:
            assert held
            with pytest.raises(ItemBusy):
                await task.run(first)
        assert rows(db, Analysis.id) == 0

        assert await task.run(first) == "ran"
        assert await task.run(first) == "done"  # delivered twice: run once
        assert rows(db, Analysis.id) == 1

        # A worker killed after the history row was committed, before the item was marked done: the
        # next delivery finds the recorded analysis and finishes the item without running it again.
        assert await task.run(second) == "ran"
        with db.session() as session:
            session.execute(update(JobItem).where(JobItem.id == second).values(state="running", verdict=None))
        assert await task.run(second) == "done"
        assert rows(db, Analysis.id) == 2

        job = await jobs.wait(client, job_id)
        assert job["progress"]["done"] == 2 and job["state"] == "done"
        assert all(item["verdict"] and item["analysis_id"] for item in job["items"])
