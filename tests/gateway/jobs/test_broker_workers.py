"""The broker engine end to end, every part a real process: PostgreSQL (the broker and the database), a
detector, a gateway with ``jobs_engine: procrastinate`` that only enqueues, and two
``python -m gateway.jobs.worker`` processes, one SIGKILLed in the middle of the job. Every item ends
exactly once: done, one history row each, none lost, none repeated."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from scripts.local_stack import Service
from support.jobs import assert_job_finishes_whole, progress
from support.media import png_bytes
from support.postgres import running_postgres
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ITEMS = 40
KILL_AFTER_DONE = 8


def start_worker(tmp_path: Path, name: str, env: dict[str, str]) -> Service:
    worker = Service(
        name=name,
        command=[
            sys.executable,
            "-m",
            "gateway.jobs.worker",
            "--alive-file",
            str(tmp_path / f"{name}.alive"),
        ],
        url="",
        port=0,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        log_path=tmp_path / "log" / f"{name}.log",
    )
    worker.start()
    return worker


def stop(worker: Service) -> None:
    if worker.process is not None and worker.process.poll() is None:
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)


def query(url: str, sql: str, *params: object) -> list[tuple]:
    import psycopg

    from gateway.jobs.broker import conninfo

    with psycopg.connect(conninfo(url)) as connection:
        return connection.execute(sql, params).fetchall()


def test_two_workers_one_killed_mid_job_run_every_item_exactly_once(tmp_path):
    with running_postgres() as server:
        database_url = server.create_database("jobs")
        env = {
            "TRIBUNAL_LOG_LEVEL": "INFO",
            "TRIBUNAL_JOBS_ENGINE": "procrastinate",
            "TRIBUNAL_DATABASE_URL": database_url,
            "TRIBUNAL_JWT_SECRET": secrets.token_urlsafe(48),
            "TRIBUNAL_JOBS_CONCURRENCY": "2",
            "TRIBUNAL_JOBS_WORKER_HEARTBEAT_S": "0.5",
            "TRIBUNAL_JOBS_WORKER_STALLED_S": "2",
        }
        # Slow enough that the kill below lands inside a detection, so the killed worker's items must rerun.
        detector_env = {"latency_probe": {"TRIBUNAL_PROBE_LATENCY_MS": "500"}}
        workers: list[Service] = []
        with running_stack(
            tmp_path, [detector_entry("latency_probe")], env=env, detector_env=detector_env
        ) as stack:
            try:
                gateway = stack.service("gateway")
                images = [png_bytes((40, 32), (i * 6 % 256, 255 - i * 6 % 256, 90)) for i in range(ITEMS)]
                with httpx.Client(base_url=gateway.url, timeout=30) as client:
                    response = client.post(
                        "/jobs",
                        files=[
                            ("files", (f"{i:02d}.png", data, "image/png")) for i, data in enumerate(images)
                        ],
                    )
                    assert response.status_code == 202, response.text
                    job_id = response.json()["id"]

                    # The gateway only enqueues: with no worker, nothing runs, and every item waits in the queue.
                    deadline = time.monotonic() + 30
                    while query(database_url, "SELECT count(*) FROM procrastinate_jobs")[0][0] < ITEMS:
                        assert time.monotonic() < deadline, "the gateway did not enqueue the items"
                        time.sleep(0.1)
                    time.sleep(1.0)
                    assert progress(client, job_id)["queued"] == ITEMS

                    worker_env = {
                        **env,
                        "TRIBUNAL_REGISTRY_PATH": str(tmp_path / "detectors.yaml"),
                        "TRIBUNAL_DATA_DIR": str(tmp_path / "data"),
                    }
                    workers = [start_worker(tmp_path, f"worker-{n}", worker_env) for n in (1, 2)]
                    deadline = time.monotonic() + 90
                    while progress(client, job_id)["done"] < KILL_AFTER_DONE:
                        assert time.monotonic() < deadline, "the workers did not run the job:\n" + "\n".join(
                            w.log_tail() for w in workers
                        )
                        time.sleep(0.02)
                    # The detector answers a batch at a time, so items finish together and the workers are
                    # between items at that instant: kill half a detection later, when the victim is mid-item.
                    time.sleep(0.25)
                    killed, survivor = workers
                    os.killpg(killed.process.pid, signal.SIGKILL)
                    assert killed.process.wait(timeout=10) == -signal.SIGKILL
                    at_kill = progress(client, job_id)
                    assert at_kill["done"] < ITEMS, at_kill  # killed mid-job, not after it

                    def survivor_runs() -> None:
                        assert survivor.exited() is None, survivor.log_tail()

                    assert_job_finishes_whole(
                        client, job_id, ITEMS, while_waiting=survivor_runs, context=survivor.log_tail
                    )

                # SIGTERM: the survivor stops cleanly once idle.
                os.killpg(survivor.process.pid, signal.SIGTERM)
                assert survivor.process.wait(timeout=40) == 0, survivor.log_tail()
            finally:
                for worker in workers:
                    stop(worker)

        analyses = dict(query(database_url, "SELECT id, request_id FROM analyses"))
        items = query(
            database_url, "SELECT seq, analysis_id, attempts FROM job_items WHERE job_id = %s", job_id
        )
        leftover = query(database_url, "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")
    assert len(analyses) == ITEMS  # exactly one history row per item
    assert sorted(analyses.values()) == sorted(f"job-{job_id}-{seq}" for seq in range(1, ITEMS + 1))
    assert {analysis_id for _, analysis_id, _ in items} == set(analyses)  # each item names its own row
    # The killed worker was in the middle of items: another worker ran them again (not twice recorded).
    assert any(attempts >= 2 for _, _, attempts in items), items
    assert not [row for row in leftover if row[0] in ("todo", "doing")], leftover
    spool = tmp_path / "data" / "jobs" / job_id
    assert not spool.exists() or list(spool.iterdir()) == []
