"""The history through the real app: what is recorded, who sees it, filters, deletion, kept files, stats."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from gateway.db.models import Analysis
from support.accounts import bearer


def upload(data: bytes, name: str = "holiday.png") -> dict:
    return {"file": (name, data, "image/png")}


async def detect(client, png, headers=None, name="holiday.png", **data) -> dict:
    response = await client.post("/detect", files=upload(png, name), data=data, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_analysis_is_recorded_as_answered(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        answer = await detect(client, png, alice, name="../../etc/holiday.png", explain="true")
        assert answer["detectors"][0]["heatmap_png"]  # the answer has it ...
        detail = (await client.get(f"/history/{answer['id']}", headers=alice)).json()
    assert detail["filename"] == "holiday.png"  # only the last part of the client's name
    assert detail["username"] == "alice"
    assert detail["size_bytes"] == len(png)
    for key in ("sha256", "media_type", "verdict", "score_fake", "confidence", "method", "threshold",
                "attribution", "degraded", "missing", "warnings", "elapsed_ms"):  # fmt: skip
        assert detail[key] == answer[key], key
    assert detail["predicted_source"] == "sdxl"
    assert detail["detectors"][0]["name"] == "a" and detail["detectors"][0]["prob_fake"] == 0.8
    assert "heatmap_png" not in detail["detectors"][0]  # ... the history does not keep it
    assert detail["has_file"] is False
    assert datetime.fromisoformat(detail["created_at"]) > datetime.now(UTC) - timedelta(minutes=1)


async def test_users_see_only_their_rows_and_admins_see_everyones(auth_gateway, png):
    async with auth_gateway() as client:
        admin = await bearer(client, "root")
        alice = await bearer(client, "alice")
        bob = await bearer(client, "bob")
        mine = await detect(client, png, alice)
        theirs = await detect(client, png, bob)

        listed = (await client.get("/history", headers=alice)).json()
        assert [item["id"] for item in listed["items"]] == [mine["id"]] and listed["total"] == 1
        assert (await client.get("/stats", headers=alice)).json()["total"] == 1

        # Another user's id is indistinguishable from one that does not exist.
        for method in ("GET", "DELETE"):
            stolen = await client.request(method, f"/history/{theirs['id']}", headers=alice)
            unknown = await client.request(method, "/history/0123456789abcdef", headers=alice)
            assert stolen.status_code == unknown.status_code == 404
            assert stolen.json()["error"] == "not_found"
        assert (await client.get(f"/history/{theirs['id']}/file", headers=alice)).status_code == 404
        assert (await client.get(f"/history/{theirs['id']}", headers=bob)).status_code == 200

        everyone = (await client.get("/history", headers=admin)).json()
        assert {item["id"] for item in everyone["items"]} == {mine["id"], theirs["id"]}
        assert {item["username"] for item in everyone["items"]} == {"alice", "bob"}
        assert (await client.get(f"/history/{theirs['id']}", headers=admin)).status_code == 200
        only_bob = (await client.get("/history", params={"username": "BOB"}, headers=admin)).json()
        assert [item["id"] for item in only_bob["items"]] == [theirs["id"]]
        # A user cannot widen their view by naming someone else.
        sneaky = (await client.get("/history", params={"username": "bob"}, headers=alice)).json()
        assert sneaky["items"] == []


async def test_filters_and_paging(auth_gateway, fakes, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        fake_ids = [(await detect(client, png, alice))["id"] for _ in range(3)]
        fakes.set("a", fakes.ok(0.1))
        real_id = (await detect(client, png, alice))["id"]

        page1 = (await client.get("/history", params={"page_size": 2}, headers=alice)).json()
        page2 = (await client.get("/history", params={"page_size": 2, "page": 2}, headers=alice)).json()
        assert page1["total"] == page2["total"] == 4
        assert [i["id"] for i in page1["items"]] + [i["id"] for i in page2["items"]] == [
            real_id,
            *fake_ids[::-1],
        ]

        fake_only = (await client.get("/history", params={"verdict": "fake"}, headers=alice)).json()
        assert {i["id"] for i in fake_only["items"]} == set(fake_ids)
        videos = (await client.get("/history", params={"media_type": "video"}, headers=alice)).json()
        assert videos["total"] == 0

        # Move one analysis back in time to test the date range.
        with client.app.state.gateway.db.session() as session:
            session.get(Analysis, fake_ids[0]).created_at = datetime(2024, 3, 1, 12, tzinfo=UTC)
        march = {"since": "2024-03-01T00:00:00", "until": "2024-03-02T00:00:00Z"}
        in_march = (await client.get("/history", params=march, headers=alice)).json()
        assert [i["id"] for i in in_march["items"]] == [fake_ids[0]]
        recent = (await client.get("/history", params={"since": "2025-01-01T00:00:00"}, headers=alice)).json()
        assert recent["total"] == 3

        bad = await client.get("/history", params={"verdict": "maybe"}, headers=alice)
        assert bad.status_code == 422
        assert (await client.get("/history", params={"page_size": 1000}, headers=alice)).status_code == 422


async def test_deleting_an_analysis(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        answer = await detect(client, png, alice)
        deleted = await client.delete(f"/history/{answer['id']}", headers=alice)
        assert deleted.status_code == 204
        assert (await client.get(f"/history/{answer['id']}", headers=alice)).status_code == 404
        assert (await client.get("/history", headers=alice)).json()["total"] == 0
        assert (await client.get("/stats", headers=alice)).json()["detectors"] == []


async def test_stats_count_verdicts_sources_and_detector_health(auth_gateway, fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9, {"real": 0.1, "sdxl": 0.9}))
    fakes.set("b", fakes.ok(0.8))
    async with gateway_client(gw.registry("a", "b"), auth_required=True) as client:
        alice = await bearer(client, "alice")
        await detect(client, png, alice)
        fakes.set("b", fakes.refuse())
        await detect(client, png, alice)
        fakes.set("a", fakes.ok(0.1))
        fakes.set("b", fakes.ok(0.2, delay_s=0.05))
        await detect(client, png, alice, models="b")  # a is skipped
        stats = (await client.get("/stats", headers=alice)).json()

    assert stats["total"] == 3
    assert stats["by_verdict"] == {"fake": 2, "real": 1}
    assert stats["by_source"] == {"sdxl": 2, "none": 1}
    assert stats["by_media_type"] == {"image": 3}
    by_name = {d["name"]: d for d in stats["detectors"]}
    assert by_name["a"]["calls"] == 2 and by_name["a"]["by_status"] == {"ok": 2, "skipped": 1}
    assert by_name["a"]["failure_rate"] == 0
    assert by_name["b"]["calls"] == 3 and by_name["b"]["by_status"] == {"ok": 2, "unavailable": 1}
    assert by_name["b"]["failure_rate"] == pytest.approx(1 / 3, abs=1e-3)
    latency = by_name["b"]["latency_ms"]
    # Two answered calls, ~0 ms and >= 50 ms: the 95th percentile sits near the slow one.
    assert latency["p95"] > 40 and latency["mean"] > 0 and latency["p50"] < latency["p95"]


async def test_uploads_are_kept_only_when_asked(auth_gateway, png, tmp_path):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        answer = await detect(client, png, alice)
        assert (await client.get(f"/history/{answer['id']}/file", headers=alice)).status_code == 404
        assert not (tmp_path / "data" / "uploads").exists()

    async with auth_gateway(keep_uploads=True, data_dir=tmp_path / "keep") as client:
        alice = await bearer(client, "alice")
        answer = await detect(client, png, alice)
        item = (await client.get("/history", headers=alice)).json()["items"][0]
        assert item["has_file"] is True
        kept = await client.get(f"/history/{answer['id']}/file", headers=alice)
        assert kept.status_code == 200 and kept.content == png
        assert kept.headers["content-type"] == "image/png"
        stored = list((tmp_path / "keep" / "uploads").rglob("*.png"))
        assert [p.name for p in stored] == [f"{answer['id']}.png"]
        assert (await client.delete(f"/history/{answer['id']}", headers=alice)).status_code == 204
        assert not stored[0].exists()


async def test_with_auth_off_analyses_are_recorded_without_a_user(auth_gateway, png):
    async with auth_gateway(auth_required=False) as client:
        answer = await detect(client, png)
        body = base64.b64encode(png).decode()
        predicted = (await client.post("/predict", json={"data": body})).json()
        listed = (await client.get("/history")).json()
        assert {i["id"] for i in listed["items"]} == {answer["id"], predicted["id"]}
        assert all(i["username"] is None for i in listed["items"])
        # A signed-in user's own history does not include the anonymous rows.
        alice = await bearer(client, "alice")  # the first account: admin, sees all
        bob = await bearer(client, "bob")
        await detect(client, png, bob)
        assert (await client.get("/history", headers=bob)).json()["total"] == 1
        assert (await client.get("/history")).json()["total"] == 2
        assert (await client.get("/history", headers=alice)).json()["total"] == 3


async def test_a_history_failure_still_answers_with_a_warning(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")

        def broken(*args, **kwargs):
            raise RuntimeError("disk full")

        client.app.state.gateway.history.write = broken  # the batch write (group commit)
        answer = await detect(client, png, alice)
        assert answer["warnings"] == ["not saved to the history: RuntimeError"]
        assert answer["verdict"] == "fake"


async def test_rows_recorded_with_simulated_class_names_read_back_with_public_ones(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        old = await detect(client, png, alice)
        older = await detect(client, png, alice)
        new = await detect(client, png, alice)
        # As an older gateway wrote it: the simulated training classes by name.
        with client.app.state.gateway.db.session() as session:
            row = session.get(Analysis, old["id"])
            row.predicted_source = "sim_transposed_conv"
            row.attribution = {
                "predicted_source": "sim_transposed_conv",
                "probs": {"real": 0.2, "sim_transposed_conv": 0.5, "sim_pixel_shuffle": 0.1, "sdxl": 0.2},
            }
            row.detectors = [
                {
                    **row.detectors[0],
                    "class_probs": {"real": 0.2, "sim_transposed_conv": 0.6, "sdxl": 0.2},
                    "details": {
                        "predicted_source": "sim_transposed_conv",
                        "family_hint": "sim_pixel_shuffle",
                    },
                }
            ]
            session.get(Analysis, older["id"]).predicted_source = "sim_pixel_shuffle"
        listed = await client.get("/history", headers=alice)
        detail = await client.get(f"/history/{old['id']}", headers=alice)
        stats = await client.get("/stats", headers=alice)

    for response in (listed, detail, stats):
        assert response.status_code == 200, response.text
        assert "sim_" not in response.text
    sources = {item["id"]: item["predicted_source"] for item in listed.json()["items"]}
    assert sources == {old["id"]: "unknown_ai", older["id"]: "unknown_ai", new["id"]: "sdxl"}
    body = detail.json()
    assert body["predicted_source"] == body["attribution"]["predicted_source"] == "unknown_ai"
    assert body["attribution"]["probs"] == pytest.approx({"real": 0.2, "unknown_ai": 0.6, "sdxl": 0.2})
    assert body["detectors"][0]["class_probs"] == pytest.approx({"real": 0.2, "unknown_ai": 0.6, "sdxl": 0.2})
    assert body["detectors"][0]["details"] == {"predicted_source": "unknown_ai", "family_hint": "unknown_ai"}
    assert stats.json()["by_source"] == {"unknown_ai": 2, "sdxl": 1}  # two old names, one family
