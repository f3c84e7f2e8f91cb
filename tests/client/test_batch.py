"""``tribunal batch`` against the real gateway: one CSV row per file, and an interrupted run resumed
into the same job without sending any file twice."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from tribunal_client import ConnectionFailed, TribunalClient
from tribunal_client.batch import STATE_SUFFIX
from tribunal_client.cli import main

from support.media import png_bytes

pytestmark = pytest.mark.integration

# latency_probe scores brightness: white is fake, black real, mid-grey uncertain (see conftest.py).
WHITE = png_bytes((48, 48), (255, 255, 255))
BLACK = png_bytes((48, 48), (0, 0, 0))
GREY = png_bytes((48, 48), (128, 128, 128))


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def read_rows(path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "scans"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "white.png").write_bytes(WHITE)
    (root / "black.PNG").write_bytes(BLACK)
    (root / "sub" / "grey.png").write_bytes(GREY)
    (root / "sub" / "deeper" / "white2.png").write_bytes(WHITE)
    (root / "sub" / "broken.jpg").write_bytes(b"not really a jpeg")
    (root / "notes.txt").write_text("not media: not sent")
    return root


def test_batch_writes_one_row_per_file(gateway, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIBUNAL_URL", gateway.url)
    monkeypatch.setenv("TRIBUNAL_API_KEY", gateway.api_key)
    out = tmp_path / "r.csv"
    code, _, err = run(["batch", str(folder), "--out", str(out), "--poll", "0.1", "--chunk-files", "2"])
    assert code == 3, err  # one file could not be analysed
    assert "analysing" in err  # the progress bar
    assert "leaving out 1 file(s)" in err  # notes.txt: said, not silently dropped
    rows = read_rows(out)
    assert sorted(rows) == [
        "black.PNG",
        "sub/broken.jpg",
        "sub/deeper/white2.png",
        "sub/grey.png",
        "white.png",
    ]
    assert rows["white.png"]["verdict"] == "fake" and rows["white.png"]["state"] == "done"
    assert rows["black.PNG"]["verdict"] == "real"
    assert rows["sub/grey.png"]["verdict"] == "uncertain"
    assert rows["sub/deeper/white2.png"]["verdict"] == "fake"
    assert rows["sub/broken.jpg"]["state"] == "failed" and rows["sub/broken.jpg"]["error_code"]
    assert not (tmp_path / ("r.csv" + STATE_SUFFIX)).exists()  # finished: nothing to resume
    with TribunalClient(gateway.url, api_key=gateway.api_key) as client:
        analysis = client.history(page_size=100)
        ids = {item.id for item in analysis.items}
        assert rows["white.png"]["analysis_id"] in ids

    # --fail-on on a folder without failures
    (folder / "sub" / "broken.jpg").unlink()
    code, _, err = run(
        ["batch", str(folder), "--out", str(out), "--poll", "0.1", "--fail-on", "fake", "--no-progress"]
    )
    assert code == 1, err


def test_an_interrupted_batch_resumes_the_same_job_and_sends_nothing_twice(
    gateway, folder, tmp_path, monkeypatch
):
    (folder / "sub" / "broken.jpg").unlink()
    monkeypatch.setenv("TRIBUNAL_URL", gateway.url)
    monkeypatch.setenv("TRIBUNAL_API_KEY", gateway.api_key)
    out = tmp_path / "resume.csv"
    state_file = tmp_path / ("resume.csv" + STATE_SUFFIX)
    real_submit = TribunalClient.submit_job
    calls = []

    def flaky_submit(self, files, **kwargs):
        calls.append([name for name, _ in files])
        job = real_submit(self, files, **kwargs)
        if len(calls) == 2:  # the gateway took the second part, but its answer never arrived
            raise ConnectionFailed("connection reset while reading the answer")
        return job

    with TribunalClient(gateway.url, api_key=gateway.api_key) as client:
        jobs_before = client.jobs(page_size=1).total

    monkeypatch.setattr(TribunalClient, "submit_job", flaky_submit)
    code, _, err = run(["batch", str(folder), "--out", str(out), "--chunk-files", "1", "--no-progress"])
    assert code == 3 and "run the same command again" in err, err
    state = json.loads(state_file.read_text())
    assert state["submitted"] == ["black.PNG"] and state["job_id"]
    assert not out.exists()

    monkeypatch.setattr(TribunalClient, "submit_job", real_submit)
    code, _, err = run(["batch", str(folder), "--out", str(out), "--chunk-files", "1", "--poll", "0.1"])
    assert code == 0, err
    assert f"resuming job {state['job_id']}" in err
    rows = read_rows(out)
    assert sorted(rows) == ["black.PNG", "sub/deeper/white2.png", "sub/grey.png", "white.png"]
    assert {row["state"] for row in rows.values()} == {"done"}
    with TribunalClient(gateway.url, api_key=gateway.api_key) as client:
        assert client.jobs(page_size=1).total == jobs_before + 1  # one job across both runs
        job = client.get_job(state["job_id"], page_size=100)
        assert job.progress.total == 4 and job.state == "done"  # no file sent twice
        assert sorted(item.name for item in job.items) == sorted(rows)
    assert not state_file.exists()


def test_client_job_methods(gateway, images):
    with TribunalClient(gateway.url, api_key=gateway.api_key) as client:
        job = client.submit_job([images.white, ("renamed.png", images.black.read_bytes())], threshold=0.5)
        assert job.progress.total == 2 and job.options["threshold"] == 0.5
        cancelled = client.cancel_job(job.id)
        assert cancelled.id == job.id
        results = client.job_results(job.id)
        assert [r.name for r in results] == ["white.png", "renamed.png"]
        assert all(r.state in ("done", "running", "cancelled") for r in results)


async def test_async_client_job_methods(gateway, images):
    from tribunal_client import AsyncTribunalClient

    async with AsyncTribunalClient(gateway.url, api_key=gateway.api_key) as client:
        job = await client.submit_job([images.grey])
        for _ in range(200):
            job = await client.get_job(job.id)
            if job.progress.pending == 0:
                break
            await asyncio.sleep(0.05)
        assert job.state == "done" and job.items[0].verdict == "uncertain"
        assert [r.verdict for r in await client.job_results(job.id)] == ["uncertain"]
        assert job.id in [j.id for j in (await client.jobs()).items]
