"""Feedback on analyses through the real app: giving, replacing, reading, withdrawing, who may, what is refused,
and the agreement between verdicts and feedback on /stats."""

from __future__ import annotations

from gateway.db.models import Analysis
from support.accounts import bearer


async def detect(client, data, headers, name="photo.png") -> dict:
    response = await client.post("/detect", files={"file": (name, data, "image/png")}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_feedback_is_given_replaced_read_and_withdrawn(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        answer = await detect(client, png, alice)  # verdict fake (P(fake) 0.8)
        url = f"/history/{answer['id']}/feedback"

        first = await client.post(
            url, json={"label": "real", "note": "  my own holiday photo "}, headers=alice
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["label"] == "real" and body["generator"] is None
        assert body["note"] == "my own holiday photo"
        assert body["username"] == "alice" and body["verdict"] == "fake" and body["agrees"] is False

        # A second post replaces the first: still one feedback, now the new one.
        second = await client.post(url, json={"label": "ai", "generator": "Midjourney"}, headers=alice)
        assert second.status_code == 200, second.text
        assert second.json()["generator"] == "midjourney" and second.json()["agrees"] is True
        assert second.json()["created_at"] == body["created_at"]
        assert second.json()["updated_at"] > body["updated_at"]
        read = (await client.get(url, headers=alice)).json()
        assert (read["label"], read["generator"], read["note"]) == ("ai", "midjourney", None)

        detail = (await client.get(f"/history/{answer['id']}", headers=alice)).json()
        assert [(f["username"], f["label"], f["generator"]) for f in detail["feedback"]] == [
            ("alice", "ai", "midjourney")
        ]

        assert (await client.delete(url, headers=alice)).status_code == 204
        gone = await client.get(url, headers=alice)
        assert gone.status_code == 404 and gone.json()["error"] == "no_feedback"
        assert "POST /history/{id}/feedback" in gone.json()["detail"]
        assert (await client.get(f"/history/{answer['id']}", headers=alice)).json()["feedback"] == []


async def test_bad_feedback_is_refused_with_what_to_fix(auth_gateway, png):
    async with auth_gateway() as client:
        alice = await bearer(client, "alice")
        url = f"/history/{(await detect(client, png, alice))['id']}/feedback"

        unknown = await client.post(url, json={"label": "ai", "generator": "dreamcrafter"}, headers=alice)
        assert unknown.status_code == 422
        assert unknown.json()["problems"][0]["field"] == "generator"
        assert "unknown generator 'dreamcrafter'" in unknown.json()["detail"]
        assert "sdxl" in unknown.json()["detail"] and "unknown_ai" in unknown.json()["detail"]

        training_aid = await client.post(
            url, json={"label": "ai", "generator": "sim_pixel_shuffle"}, headers=alice
        )
        assert training_aid.status_code == 422  # simulated families are never user-facing

        real_with_generator = await client.post(
            url, json={"label": "real", "generator": "flux"}, headers=alice
        )
        assert real_with_generator.status_code == 422
        assert "label 'ai' only" in real_with_generator.json()["detail"]

        assert (await client.post(url, json={"label": "fake"}, headers=alice)).status_code == 422
        assert (await client.post(url, json={}, headers=alice)).status_code == 422
        long_note = await client.post(url, json={"label": "real", "note": "x" * 1001}, headers=alice)
        assert long_note.status_code == 422

        # Nothing refused was saved.
        assert (await client.get(url, headers=alice)).status_code == 404

        # "unknown_ai" is "AI-made, generator unknown": the same as giving none.
        unknown_ai = await client.post(url, json={"label": "ai", "generator": "unknown_ai"}, headers=alice)
        assert unknown_ai.status_code == 200 and unknown_ai.json()["generator"] is None

        options = (await client.get("/feedback/generators", headers=alice)).json()
        assert options["labels"] == ["real", "ai"]
        assert "gpt_image" in options["generators"] and "real" not in options["generators"]
        assert not any(name.startswith("sim_") for name in options["generators"])


async def test_only_who_may_see_an_analysis_may_give_feedback_on_it(auth_gateway, png):
    async with auth_gateway() as client:
        admin = await bearer(client, "root")
        alice = await bearer(client, "alice")
        bob = await bearer(client, "bob")
        answer = await detect(client, png, alice)
        url = f"/history/{answer['id']}/feedback"

        assert (await client.post(url, json={"label": "real"})).status_code == 401
        stolen = await client.post(url, json={"label": "real"}, headers=bob)
        assert stolen.status_code == 404 and stolen.json()["error"] == "not_found"
        unknown = await client.post("/history/0123456789abcdef/feedback", json={"label": "real"}, headers=bob)
        assert unknown.status_code == 404

        # One feedback per user: alice's and the admin's stand side by side, and alice sees both.
        assert (await client.post(url, json={"label": "real"}, headers=alice)).status_code == 200
        assert (
            await client.post(url, json={"label": "ai", "generator": "flux"}, headers=admin)
        ).status_code == 200
        assert (await client.get(url, headers=alice)).json()["label"] == "real"
        assert (await client.get(url, headers=admin)).json()["label"] == "ai"
        detail = (await client.get(f"/history/{answer['id']}", headers=alice)).json()
        assert [(f["username"], f["label"]) for f in detail["feedback"]] == [
            ("root", "ai"),
            ("alice", "real"),
        ]

        # Deleting the analysis deletes the feedback on it.
        assert (await client.delete(f"/history/{answer['id']}", headers=alice)).status_code == 204
        assert (await client.get(url, headers=admin)).status_code == 404


async def test_stats_show_how_often_verdicts_agreed_with_feedback(auth_gateway, fakes, png):
    async with auth_gateway() as client:
        admin = await bearer(client, "root")
        alice = await bearer(client, "alice")

        async def analysed(prob_fake: float) -> str:
            fakes.set("a", fakes.ok(prob_fake))
            return (await detect(client, png, alice))["id"]

        fake_right, fake_wrong, real_right, real_wrong = [await analysed(p) for p in (0.9, 0.9, 0.1, 0.1)]
        uncertain, no_feedback = await analysed(0.5), await analysed(0.9)
        given = {
            fake_right: {"label": "ai", "generator": "sdxl"},
            fake_wrong: {"label": "real"},  # a false alarm
            real_right: {"label": "real"},
            real_wrong: {"label": "ai"},  # missed AI
            uncertain: {"label": "ai"},
        }
        for analysis_id, body in given.items():
            saved = await client.post(f"/history/{analysis_id}/feedback", json=body, headers=alice)
            assert saved.status_code == 200, saved.text
        # The admin corrects alice's correction later: the analysis counts once, with the newest feedback.
        await client.post(f"/history/{fake_wrong}/feedback", json={"label": "ai"}, headers=admin)

        # One analysis becomes a video, to check the split by media type.
        with client.app.state.gateway.db.session() as session:
            session.get(Analysis, real_wrong).media_type = "video"

        stats = (await client.get("/stats", headers=alice)).json()
        assert stats["total"] == 6 and no_feedback
        feedback = stats["feedback"]
        assert feedback["analyses"] == 5
        assert (feedback["agreed"], feedback["disagreed"], feedback["uncertain"]) == (3, 1, 1)
        assert (feedback["false_alarms"], feedback["missed_ai"]) == (0, 1)
        assert feedback["rate"] == 0.75
        image, video = feedback["by_media_type"]["image"], feedback["by_media_type"]["video"]
        assert (image["analyses"], image["agreed"], image["uncertain"], image["rate"]) == (4, 3, 1, 1.0)
        assert (video["analyses"], video["missed_ai"], video["rate"]) == (1, 1, 0.0)

        # The /stats filters apply: only the fake verdicts.
        only_fake = (await client.get("/stats", params={"verdict": "fake"}, headers=alice)).json()["feedback"]
        assert (only_fake["analyses"], only_fake["agreed"], only_fake["rate"]) == (2, 2, 1.0)

        # Nothing given yet: zeros and no rate.
        bob = await bearer(client, "bob")
        empty = (await client.get("/stats", headers=bob)).json()["feedback"]
        assert empty["analyses"] == 0 and empty["rate"] is None and empty["by_media_type"] == {}
