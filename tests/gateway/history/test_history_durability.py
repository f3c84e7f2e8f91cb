"""Killing the gateway loses no answered row: a real gateway process under concurrent detections is
SIGKILLed the moment the last counted 200 arrives (others still in flight), then restarted; every 200
it sent is a row in the database it left and readable from the restarted gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3

import httpx
import pytest

from support.media import png_bytes
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ANSWERS = 150  # 200s to collect before the kill
CONCURRENCY = 16


async def detect_until_killed(url: str, pid: int) -> list[str]:
    """Concurrent clients send detections; when the ANSWERS-th 200 arrives the gateway's process group is
    SIGKILLed at once. Returns the id of every 200 received (some may land after the kill was sent)."""
    answered: list[str] = []
    killed = False
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def client_loop(worker: int) -> None:
            nonlocal killed
            sent = 0
            while not killed:
                image = png_bytes((40, 32), (worker * 15 % 256, sent % 256, 90))
                sent += 1
                try:
                    response = await client.post(
                        "/detect", files={"file": (f"w{worker}.png", image, "image/png")}
                    )
                except httpx.TransportError:
                    assert killed, "the gateway failed a request before it was killed"
                    return
                assert response.status_code == 200, response.text
                body = response.json()
                assert not any("history" in warning for warning in body["warnings"]), body["warnings"]
                answered.append(body["id"])
                if len(answered) == ANSWERS and not killed:
                    os.killpg(pid, signal.SIGKILL)  # no await in between: the writer gets no grace
                    killed = True

        await asyncio.gather(*(client_loop(worker) for worker in range(CONCURRENCY)))
    return answered


def test_every_answer_sent_before_a_sigkill_is_a_row_after_the_restart(tmp_path):
    database = tmp_path / "data" / "tribunal.db"
    with running_stack(
        tmp_path, [detector_entry("latency_probe")], env={"TRIBUNAL_LOG_LEVEL": "WARNING"}
    ) as stack:
        gateway = stack.service("gateway")
        answered = asyncio.run(detect_until_killed(gateway.url, gateway.pid))
        assert gateway.process is not None
        assert gateway.process.wait(timeout=10) == -signal.SIGKILL
        assert len(answered) >= ANSWERS and len(set(answered)) == len(answered)

        # The file as the killed process left it (opening it replays the write-ahead log).
        with sqlite3.connect(database) as connection:
            rows = {row[0] for row in connection.execute("SELECT id FROM analyses")}
        connection.close()
        assert set(answered) <= rows, f"{len(set(answered) - rows)} answered rows lost"

        gateway.start()
        stack.wait_ready(timeout_s=60)
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            for analysis_id in answered:
                assert client.get(f"/history/{analysis_id}").status_code == 200, analysis_id
            assert client.get("/history", params={"page_size": 1}).json()["total"] == len(rows)
