"""Watching a batch job over HTTP until every item has ended (the jobs tests that kill processes)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def progress(client: httpx.Client, job_id: str) -> dict:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["progress"]


def assert_job_finishes_whole(
    client: httpx.Client,
    job_id: str,
    items: int,
    timeout_s: float = 120,
    while_waiting: Callable[[], None] = lambda: None,
    context: Callable[[], str] = lambda: "",
) -> None:
    """Poll until no item is queued or running (``while_waiting`` runs each time), then check that every
    item is done, once: ``items`` done, as many result rows, as many analyses in the history."""
    deadline = time.monotonic() + timeout_s
    while (state := progress(client, job_id))["queued"] + state["running"]:
        while_waiting()
        assert time.monotonic() < deadline, f"the job did not finish: {state}\n{context()}"
        time.sleep(0.1)
    assert state == {"total": items, "queued": 0, "running": 0, "done": items, "failed": 0, "cancelled": 0}
    results = [row for row in client.get(f"/jobs/{job_id}/results").iter_lines() if row]
    assert len(results) == items
    assert client.get("/history", params={"page_size": 1}).json()["total"] == items
