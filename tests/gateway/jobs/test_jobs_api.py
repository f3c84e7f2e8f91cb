"""The jobs API end to end in one process: submit, progress, results, history, scoping, cancel, quota."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from gateway.ratelimit import RateLimiter
from support.accounts import bearer


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "application/octet-stream")) for name, data in items]


async def test_a_job_of_files_runs_each_as_one_analysis_in_the_history(jobs_gateway, jobs, gw, fakes):
    images = [(f"img{i}.png", gw.image(seed=i)) for i in range(3)]
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=files(*images, ("notes.txt", b"hello, not an image")))
        assert response.status_code == 202, response.text
        submitted = response.json()
        assert submitted["state"] in ("queued", "running") and submitted["progress"]["total"] == 4
        assert submitted["name"] == "4 files"

        job = await jobs.wait(client, submitted["id"])
        assert job["state"] == "done"
        assert job["progress"] == {
            "total": 4,
            "queued": 0,
            "running": 0,
            "done": 3,
            "failed": 1,
            "cancelled": 0,
        }
        assert job["finished_at"] is not None
        by_name = {item["name"]: item for item in job["items"]}
        assert by_name["notes.txt"]["state"] == "failed"
        assert by_name["notes.txt"]["error_code"] == "unsupported_media_type"
        assert by_name["notes.txt"]["analysis_id"] is None
        assert fakes.calls["a"] == 3  # the text file never reached a detector

        for name, _ in images:
            item = by_name[name]
            assert item["state"] == "done" and item["verdict"] == "fake" and item["score_fake"] == 0.8
            assert item["predicted_source"] == "sdxl"
            analysis = await client.get(f"/history/{item['analysis_id']}")
            assert analysis.status_code == 200
            assert analysis.json()["filename"] == name and analysis.json()["verdict"] == "fake"
        assert (await client.get("/history")).json()["total"] == 3

        lines = (await client.get(f"/jobs/{submitted['id']}/results")).text.splitlines()
        rows = [json.loads(line) for line in lines]
        assert [row["name"] for row in rows] == ["img0.png", "img1.png", "img2.png", "notes.txt"]
        assert [row["state"] for row in rows] == ["done", "done", "done", "failed"]
        assert rows[0]["analysis_id"] == by_name["img0.png"]["analysis_id"]

        response = await client.get(f"/jobs/{submitted['id']}/results", params={"format": "csv"})
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.text)))
        assert len(table) == 4 and table[3]["error_code"] == "unsupported_media_type"
        assert table[0]["verdict"] == "fake" and table[0]["predicted_source"] == "sdxl"


async def test_a_job_whose_every_item_fails_is_failed(jobs_gateway, jobs):
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=files(("a.txt", b"plain text"), ("b.bin", b"\x00\x01")))
        job = await jobs.wait(client, response.json()["id"])
        assert job["state"] == "failed" and job["progress"]["failed"] == 2


async def test_bad_requests_are_refused_before_a_job_exists(jobs_gateway, gw):
    async with jobs_gateway() as client:
        image = files(("a.png", gw.image()))
        response = await client.post("/jobs", files=image, data={"ensemble_method": "nope"})
        assert response.status_code == 422 and gw.error_body(response)["error"] == "unknown_ensemble_method"
        response = await client.post("/jobs", files=image, data={"models": "a,ghost"})
        assert response.status_code == 422 and gw.error_body(response)["error"] == "unknown_models"
        response = await client.post("/jobs", files=image, data={"threshold": "1.5"})
        assert response.status_code == 422 and gw.error_body(response)["error"] == "bad_threshold"
        response = await client.post("/jobs", json={"files": []})
        assert response.status_code == 415 and gw.error_body(response)["error"] == "unsupported_content_type"
        response = await client.post("/jobs", files={"file": ("a.png", gw.image())})
        assert response.status_code == 422 and gw.error_body(response)["error"] == "no_files"
        assert (await client.get("/jobs")).json()["total"] == 0
        response = await client.get("/jobs/" + "0" * 32)
        assert response.status_code == 404 and gw.error_body(response)["error"] == "not_found"


async def test_options_apply_to_every_item(jobs_gateway, jobs, gw, fakes):
    fakes.set("a", fakes.ok(0.7))
    fakes.set("b", fakes.ok(0.1))
    async with jobs_gateway(gw.registry("a", "b")) as client:
        response = await client.post(
            "/jobs", files=files(("x.png", gw.image())), data={"models": "a", "threshold": "0.6"}
        )
        job = await jobs.wait(client, response.json()["id"])
        assert job["options"] == {"ensemble_method": None, "models": ["a"], "threshold": 0.6}
        analysis = (await client.get(f"/history/{job['items'][0]['analysis_id']}")).json()
        assert analysis["threshold"] == 0.6
        assert {d["name"]: d["status"] for d in analysis["detectors"]} == {"a": "ok", "b": "skipped"}
        assert fakes.calls["b"] == 0


async def test_jobs_are_per_user_and_admins_see_all(jobs_gateway, jobs, gw):
    async with jobs_gateway(auth_required=True) as client:
        admin = await bearer(client, "root")  # the first account is the admin
        alice = await bearer(client, "alice")
        bob = await bearer(client, "bob")
        assert (await client.post("/jobs", files=files(("a.png", gw.image())))).status_code == 401
        response = await client.post("/jobs", files=files(("a.png", gw.image())), headers=alice)
        job_id = response.json()["id"]
        job = await jobs.wait(client, job_id, headers=alice)
        assert job["username"] == "alice"

        assert (await client.get(f"/jobs/{job_id}", headers=bob)).status_code == 404
        assert (await client.get(f"/jobs/{job_id}/results", headers=bob)).status_code == 404
        assert (await client.delete(f"/jobs/{job_id}", headers=bob)).status_code == 404
        response = await client.post(
            "/jobs", params={"add_to": job_id}, files=files(("b.png", gw.image())), headers=bob
        )
        assert response.status_code == 404
        assert (await client.get("/jobs", headers=bob)).json()["total"] == 0
        assert [j["id"] for j in (await client.get("/jobs", headers=alice)).json()["items"]] == [job_id]
        assert [j["id"] for j in (await client.get("/jobs", headers=admin)).json()["items"]] == [job_id]
        assert (await client.get(f"/jobs/{job_id}", headers=admin)).status_code == 200
        # The analysis is alice's, in her history.
        history = (await client.get("/history", headers=alice)).json()
        assert history["total"] == 1 and history["items"][0]["username"] == "alice"


async def test_files_added_to_a_job_run_with_its_options(jobs_gateway, jobs, gw):
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=files(("a.png", gw.image())), data={"threshold": "0.9"})
        job_id = response.json()["id"]
        await jobs.wait(client, job_id)
        response = await client.post(
            "/jobs",
            params={"add_to": job_id},
            files=files(("b.png", gw.image(seed=1)), ("c.png", gw.image(seed=2))),
        )
        assert response.status_code == 202 and response.json()["id"] == job_id
        job = await jobs.wait(client, job_id)
        assert [item["name"] for item in job["items"]] == ["a.png", "b.png", "c.png"]
        assert [item["seq"] for item in job["items"]] == [1, 2, 3]
        assert job["state"] == "done" and job["progress"]["done"] == 3
        # 0.8 is below the job's threshold 0.9 (the uncertainty band reaches 0.8): not fake.
        assert {item["verdict"] for item in job["items"]} == {"uncertain"}
        response = await client.post(
            "/jobs", params={"add_to": job_id}, files=files(("d.png", gw.image())), data={"threshold": "0.2"}
        )
        assert response.status_code == 422 and gw.error_body(response)["error"] == "options_with_add_to"


async def test_cancelling_stops_items_that_have_not_started(jobs_gateway, jobs, gw, fakes):
    fakes.set("a", fakes.ok(0.8, delay_s=0.3))
    async with jobs_gateway(gw.registry("a"), jobs_concurrency=1) as client:
        images = [(f"{i}.png", gw.image(seed=i)) for i in range(6)]
        job_id = (await client.post("/jobs", files=files(*images))).json()["id"]
        while fakes.calls["a"] == 0:
            await asyncio.sleep(0.01)
        response = await client.delete(f"/jobs/{job_id}")
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
        job = await jobs.wait(client, job_id)
        assert job["state"] == "cancelled"
        done = job["progress"]["done"]
        assert 1 <= done <= 2 and job["progress"]["cancelled"] == 6 - done
        await asyncio.sleep(0.5)  # nothing else starts
        assert fakes.calls["a"] == done
        assert (await client.get("/history")).json()["total"] == done
        folder = client.app.state.jobs.spool.folder(job_id)  # type: ignore[attr-defined]
        assert not folder.exists() or list(folder.iterdir()) == []  # no spooled file left behind
        response = await client.post("/jobs", params={"add_to": job_id}, files=files(("z.png", gw.image())))
        assert response.status_code == 409 and gw.error_body(response)["error"] == "job_cancelled"


async def test_cancelling_a_finished_job_changes_nothing(jobs_gateway, jobs, gw):
    async with jobs_gateway() as client:
        job_id = (await client.post("/jobs", files=files(("a.png", gw.image())))).json()["id"]
        await jobs.wait(client, job_id)
        response = await client.delete(f"/jobs/{job_id}")
        assert response.status_code == 200 and response.json()["state"] == "done"


async def test_items_wait_for_the_owners_rate_limit_instead_of_failing(jobs_gateway, jobs, gw):
    """detect_per_minute 2: four items all finish, the worker having waited for the bucket to refill."""
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    async with jobs_gateway(auth_required=True, detect_per_minute=2) as client:
        app_gateway = client.app.state.gateway  # type: ignore[attr-defined]
        app_gateway.detect_limiter = RateLimiter(2, what="detections", clock=lambda: now[0])
        client.app.state.jobs.runner.sleep = fake_sleep  # type: ignore[attr-defined]
        alice = await bearer(client, "alice")
        images = [(f"{i}.png", gw.image(seed=i)) for i in range(4)]
        job_id = (await client.post("/jobs", files=files(*images), headers=alice)).json()["id"]
        job = await jobs.wait(client, job_id, headers=alice)
        assert job["progress"]["done"] == 4 and job["progress"]["failed"] == 0
        assert waits and all(wait >= 1 for wait in waits)  # it waited (Retry-After seconds), never 429'd
        # The job spent alice's quota: her own /detect is now over the limit.
        response = await client.post("/detect", files={"file": ("x.png", gw.image())}, headers=alice)
        assert response.status_code == 429


async def test_an_item_retries_when_no_detector_answers_then_fails(jobs_gateway, jobs, gw, fakes):
    fakes.set("a", fakes.refuse())

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    async with jobs_gateway(gw.registry("a"), jobs_item_retries=2, breaker_failures=100) as client:
        client.app.state.jobs.runner.sleep = no_sleep  # type: ignore[attr-defined]
        job_id = (await client.post("/jobs", files=files(("a.png", gw.image())))).json()["id"]
        job = await jobs.wait(client, job_id)
        item = job["items"][0]
        assert item["state"] == "failed" and item["error_code"] == "no_detector_available"
        assert "a" in item["error"]
        assert fakes.calls["a"] == 3  # the first try and two retries


async def test_list_pages_newest_first(jobs_gateway, jobs, gw):
    async with jobs_gateway() as client:
        ids = [
            (await client.post("/jobs", files=files(("a.png", gw.image())))).json()["id"] for _ in range(3)
        ]
        page = (await client.get("/jobs", params={"page_size": 2})).json()
        assert page["total"] == 3 and [j["id"] for j in page["items"]] == ids[::-1][:2]
        for job_id in ids:
            await jobs.wait(client, job_id)
        detail = (await client.get(f"/jobs/{ids[0]}", params={"item_state": "done"})).json()
        assert detail["items_total"] == 1


@pytest.mark.parametrize("path", ["/jobs/not-a-job", "/jobs/" + "A" * 32])
async def test_a_malformed_job_id_is_a_422(jobs_gateway, gw, path):
    async with jobs_gateway() as client:
        response = await client.get(path)
        assert response.status_code == 422 and gw.error_body(response)["error"] == "malformed_request"
