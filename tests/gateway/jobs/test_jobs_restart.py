"""A real gateway process is SIGKILLed in the middle of a job and started again: every item ends exactly
once (one history row each, none lost, none repeated), and the spooled files are cleaned up."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import httpx
import pytest

from support.jobs import assert_job_finishes_whole, progress
from support.media import png_bytes
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ITEMS = 40
KILL_AFTER_DONE = 8


def test_killing_the_gateway_mid_job_loses_and_repeats_nothing(tmp_path):
    env = {"TRIBUNAL_LOG_LEVEL": "WARNING", "TRIBUNAL_JOBS_CONCURRENCY": "2", "TRIBUNAL_JOBS_QUIET_S": "0"}
    detector_env = {"latency_probe": {"TRIBUNAL_PROBE_LATENCY_MS": "60"}}
    database = tmp_path / "data" / "tribunal.db"
    with running_stack(
        tmp_path, [detector_entry("latency_probe")], env=env, detector_env=detector_env
    ) as stack:
        gateway = stack.service("gateway")
        images = [png_bytes((40, 32), (i * 6 % 256, 255 - i * 6 % 256, 90)) for i in range(ITEMS)]
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            response = client.post(
                "/jobs",
                files=[("files", (f"{i:02d}.png", data, "image/png")) for i, data in enumerate(images)],
            )
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            deadline = time.monotonic() + 60
            while progress(client, job_id)["done"] < KILL_AFTER_DONE:
                assert time.monotonic() < deadline, "the job did not start"
                time.sleep(0.02)
        assert gateway.pid is not None
        os.killpg(gateway.pid, signal.SIGKILL)
        assert gateway.process is not None and gateway.process.wait(timeout=10) == -signal.SIGKILL

        with sqlite3.connect(database) as connection:
            rows_at_kill = connection.execute("SELECT count(*) FROM analyses").fetchone()[0]
            states_at_kill = dict(connection.execute("SELECT state, count(*) FROM job_items GROUP BY state"))
        connection.close()
        assert KILL_AFTER_DONE <= rows_at_kill < ITEMS, (rows_at_kill, states_at_kill)

        gateway.start()
        stack.wait_ready(timeout_s=60)
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            assert_job_finishes_whole(client, job_id, ITEMS)

    with sqlite3.connect(database) as connection:
        analyses = dict(connection.execute("SELECT id, request_id FROM analyses").fetchall())
        items = connection.execute(
            "SELECT seq, analysis_id FROM job_items WHERE job_id = ?", (job_id,)
        ).fetchall()
    connection.close()
    assert len(analyses) == ITEMS  # exactly one history row per item
    assert sorted(analyses.values()) == sorted(f"job-{job_id}-{seq}" for seq in range(1, ITEMS + 1))
    assert {analysis_id for _, analysis_id in items} == set(analyses)  # each item names its own row
    spool = tmp_path / "data" / "jobs" / job_id
    assert not spool.exists() or list(spool.iterdir()) == []
