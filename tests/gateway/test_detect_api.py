"""POST /detect and /predict through the real gateway app, with faked detectors behind it."""

from __future__ import annotations

import base64
import time

import pytest

from support.video import plain_video


def upload(data: bytes, name: str = "upload.png") -> dict:
    return {"file": (name, data, "application/octet-stream")}


async def test_the_answer_has_the_documented_shape(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9, {"real": 0.1, "sdxl": 0.6, "flux": 0.3}))
    fakes.set("b", fakes.ok(0.7))
    async with gateway_client(gw.registry("a", "b")) as client:
        response = await client.post("/detect", files=upload(png), headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "trace-42"
    body = response.json()
    assert set(body) == {
        "id", "sha256", "media_type", "verdict", "score_fake", "confidence", "method", "threshold",
        "attribution", "detectors", "degraded", "missing", "warnings", "elapsed_ms", "video",
    }  # fmt: skip
    assert len(body["id"]) == 32
    assert body["media_type"] == "image"
    assert body["video"] is None  # the video part is for videos only
    assert body["verdict"] == "fake"
    assert body["score_fake"] == pytest.approx(0.8)
    assert body["confidence"] == pytest.approx(0.6)
    assert body["method"] == "average"
    assert body["threshold"] == 0.5
    assert body["degraded"] is False and body["missing"] == [] and body["warnings"] == []
    assert body["attribution"]["predicted_source"] == "sdxl"
    assert sum(body["attribution"]["probs"].values()) == pytest.approx(1.0)
    detector = body["detectors"][0]
    for key in ("name", "status", "prob_fake", "class_probs", "abstained", "reason", "version", "elapsed_ms",
                "error", "heatmap_png", "details", "warnings"):  # fmt: skip
        assert key in detector
    assert [(d["name"], d["status"]) for d in body["detectors"]] == [("a", "ok"), ("b", "ok")]
    # The request id travels to every detector.
    assert fakes.last_request["a"].headers["X-Request-ID"] == "trace-42"


async def test_the_media_type_comes_from_the_bytes_not_the_name(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.2))
    async with gateway_client(gw.registry("a")) as client:
        response = await client.post("/detect", files={"file": ("clip.mp4", png, "video/mp4")})
    assert response.status_code == 200
    assert response.json()["media_type"] == "image"


async def test_one_detector_down_gives_a_degraded_answer_naming_it(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.refuse())
    async with gateway_client(gw.registry("a", "b")) as client:
        response = await client.post("/detect", files=upload(png))
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] is True
    assert body["missing"] == ["b"]
    assert any(w.startswith("b unavailable") for w in body["warnings"])
    statuses = {d["name"]: d["status"] for d in body["detectors"]}
    assert statuses == {"a": "ok", "b": "unavailable"}
    assert body["score_fake"] == pytest.approx(0.9)  # the failed detector is left out, not read as 0.5


async def test_an_abstention_is_left_out_of_the_fusion(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("meta", fakes.abstain())
    async with gateway_client(gw.registry("a", "meta")) as client:
        body = (await client.post("/detect", files=upload(png))).json()
    assert body["score_fake"] == pytest.approx(0.9)
    assert body["degraded"] is False  # abstaining is answering
    assert {d["name"]: d["status"] for d in body["detectors"]} == {"a": "ok", "meta": "abstained"}


async def test_when_every_detector_abstains_the_verdict_is_uncertain_with_no_score(
    fakes, gateway_client, gw, png
):
    fakes.set("a", fakes.abstain())
    fakes.set("b", fakes.abstain("no_face"))
    async with gateway_client(gw.registry("a", "b")) as client:
        response = await client.post("/detect", files=upload(png))
    assert response.status_code == 200
    body = response.json()
    assert (body["verdict"], body["score_fake"], body["confidence"], body["attribution"]) == (
        "uncertain",
        None,
        None,
        None,
    )
    assert "no usable scores" in body["method"]


async def test_when_every_detector_fails_the_503_names_each(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.hang())
    fakes.set("b", fakes.refuse())
    fakes.set("c", fakes.raw(200, b"garbage"))
    registry = gw.registry("a", "b", "c", a={"timeout_s": 0.2})
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(png))
        assert response.status_code == 503
        body = gw.error_body(response)
        assert body["error"] == "no_detector_available"
        assert {d["name"]: d["status"] for d in body["detectors"]} == {
            "a": "timeout",
            "b": "unavailable",
            "c": "error",
        }
        for name in ("a", "b", "c"):
            assert name in body["detail"]
        # The gateway itself is fine.
        assert (await client.get("/health")).status_code == 200


async def test_a_hard_dependency_failing_fails_the_request(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("required", fakes.status(500))
    registry = gw.registry("a", "required", required={"dependency": "hard"})
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(png))
        assert response.status_code == 503
        body = gw.error_body(response)
        assert body["error"] == "hard_dependency_failed"
        assert body["failed"] == ["required"]
        assert "required (error: HTTP 500" in body["detail"]

        fakes.set("required", fakes.abstain())  # abstaining is an answer: the request succeeds
        assert (await client.post("/detect", files=upload(png))).status_code == 200


async def test_models_filters_the_detectors_asked(fakes, gateway_client, gw, png):
    for name in ("a", "b", "c"):
        fakes.set(name, fakes.ok(0.9 if name == "a" else 0.1))
    async with gateway_client(gw.registry("a", "b", "c")) as client:
        response = await client.post("/detect", files=upload(png), data={"models": "a, c"})
    assert response.status_code == 200
    body = response.json()
    assert {d["name"]: d["status"] for d in body["detectors"]} == {"a": "ok", "c": "ok", "b": "skipped"}
    assert fakes.calls == {"a": 1, "c": 1}
    assert body["score_fake"] == pytest.approx(0.5)
    assert body["degraded"] is False  # skipping on request is not a failure


async def test_unknown_model_names_are_a_422_listing_known_ones(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a", "b")) as client:
        response = await client.post("/detect", files=upload(png), data={"models": "a,nope,zilch"})
    assert response.status_code == 422
    body = gw.error_body(response)
    assert body["error"] == "unknown_models"
    assert body["unknown"] == ["nope", "zilch"] and body["known"] == ["a", "b"]
    assert sum(fakes.calls.values()) == 0


async def test_models_naming_only_a_disabled_detector_is_a_422(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a", "off", off={"enabled": False})) as client:
        response = await client.post("/detect", files=upload(png), data={"models": "off"})
    assert response.status_code == 422
    body = gw.error_body(response)
    assert body["error"] == "no_model_selected"
    assert "off was not asked: it is disabled" in body["detail"]


async def test_an_unknown_ensemble_method_is_a_422_listing_the_known_ones(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a")) as client:
        response = await client.post("/detect", files=upload(png), data={"ensemble_method": "median"})
    assert response.status_code == 422
    body = gw.error_body(response)
    assert body["error"] == "unknown_ensemble_method"
    assert body["known"] == ["average", "stacking", "voting"]
    assert fakes.calls["a"] == 0


async def test_ensemble_method_threshold_and_explain_are_honoured(fakes, gateway_client, gw, png, tmp_path):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.ok(0.8))
    fakes.set("c", fakes.ok(0.1))
    async with gateway_client(gw.registry("a", "b", "c"), meta_learner_dir=tmp_path) as client:
        voting = (await client.post("/detect", files=upload(png), data={"ensemble_method": "voting"})).json()
        assert (voting["method"], voting["verdict"]) == ("voting", "fake")
        assert voting["confidence"] == pytest.approx(2 / 3)

        strict = (await client.post("/detect", files=upload(png), data={"threshold": "0.95"})).json()
        assert strict["threshold"] == 0.95 and strict["verdict"] == "real"

        stacking = (
            await client.post("/detect", files=upload(png), data={"ensemble_method": "stacking"})
        ).json()
        assert stacking["method"] == "average (stacking unavailable: no deployed meta-learner for image)"

        explained = (await client.post("/detect", files=upload(png), data={"explain": "true"})).json()
        assert all(d["heatmap_png"] == "aGVhdG1hcA==" for d in explained["detectors"])

        bad = await client.post("/detect", files=upload(png), data={"threshold": "1.5"})
        assert bad.status_code == 422
        assert gw.error_body(bad)["error"] == "malformed_request"
        assert "threshold" in gw.error_body(bad)["detail"]


async def test_predict_with_base64_json_gives_the_same_answer(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9))
    fakes.set("b", fakes.ok(0.2))
    async with gateway_client(gw.registry("a", "b")) as client:
        multipart = (
            await client.post("/detect", files=upload(png), data={"ensemble_method": "voting"})
        ).json()
        payload = {"data": base64.b64encode(png).decode(), "media_type": "image", "ensemble_method": "voting"}
        response = await client.post("/predict", json=payload)
        assert response.status_code == 200, response.text
        as_json = response.json()
        for key in ("sha256", "media_type", "verdict", "score_fake", "confidence", "method", "degraded"):
            assert as_json[key] == multipart[key]

        filtered = await client.post(
            "/predict", json={"data": base64.b64encode(png).decode(), "models": ["a"]}
        )
        assert [d["status"] for d in filtered.json()["detectors"]] == ["ok", "skipped"]

        data_url = "data:image/png;base64," + base64.b64encode(png).decode()
        assert (await client.post("/predict", json={"data": data_url})).status_code == 200

        mismatch = await client.post(
            "/predict", json={"data": base64.b64encode(png).decode(), "media_type": "video"}
        )
        assert mismatch.status_code == 422
        assert gw.error_body(mismatch)["error"] == "media_type_mismatch"


async def test_a_video_goes_to_video_detectors_and_its_keyframes_to_image_detectors(
    fakes, gateway_client, gw
):
    fakes.set("img", fakes.ok(0.9))
    fakes.set("vid", fakes.ok(0.3))
    registry = gw.registry("img", "vid", vid={"media_types": ["video"]})
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(plain_video(n=12), "clip.mp4"))).json()
    assert body["media_type"] == "video"
    assert [(d["name"], d["status"]) for d in body["detectors"]] == [("vid", "ok"), ("img", "ok")]
    # The video itself once to the video detector; six keyframes (the default) to the image detector.
    assert fakes.calls == {"vid": 1, "img": 6}
    assert body["score_fake"] == pytest.approx(0.3)  # the video detector decides (gateway/video/fusion.py)


async def test_a_media_type_no_detector_handles_is_a_415(fakes, gateway_client, gw, png):
    fakes.set("vid", fakes.ok(0.9))
    async with gateway_client(gw.registry("vid", vid={"media_types": ["video"]})) as client:
        response = await client.post("/detect", files=upload(png))
    assert response.status_code == 415
    body = gw.error_body(response)
    assert body["error"] == "no_detector_for_media_type"
    assert "no enabled detector handles image" in body["detail"]


async def test_after_one_timeout_the_breaker_answers_without_waiting(fakes, gateway_client, gw, png):
    """A detector that stopped answering costs one timeout, not ``breaker_failures`` of them (issue 13)."""
    fakes.set("fast", fakes.ok(0.8))
    fakes.set("hung", fakes.hang())
    registry = gw.registry("fast", "hung", hung={"timeout_s": 0.2})
    async with gateway_client(registry, breaker_failures=3) as client:
        body = (await client.post("/detect", files=upload(png))).json()
        assert body["missing"] == ["hung"]
        started = time.perf_counter()
        body = (await client.post("/detect", files=upload(png))).json()
        assert time.perf_counter() - started < 0.15
        hung = next(d for d in body["detectors"] if d["name"] == "hung")
        assert hung["status"] == "unavailable" and "circuit breaker open" in hung["error"]
        assert fakes.calls["hung"] == 1


async def test_four_slow_detectors_cost_one_latency_not_four(fakes, gateway_client, gw, png):
    names = ["a", "b", "c", "d"]
    for name in names:
        fakes.set(name, fakes.ok(0.6, delay_s=0.2))
    async with gateway_client(gw.registry(*names)) as client:
        started = time.perf_counter()
        response = await client.post("/detect", files=upload(png))
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert [d["status"] for d in response.json()["detectors"]] == ["ok"] * 4
    assert elapsed < 0.5, f"4 detectors x 200 ms took {elapsed:.3f} s through /detect"


SIMULATED_ANSWER = {
    "class_probs": {"real": 0.1, "sim_pixel_shuffle": 0.5, "sim_nearest_conv": 0.2, "sdxl": 0.2},
    "details": {
        "predicted_class": "sim_pixel_shuffle",
        "predicted_source": "sim_pixel_shuffle",
        "family_hint": "sim_nearest_conv",
        "family_probs_if_ai": {"sim_nearest_conv": 0.6, "sim_bilinear_conv": 0.1, "flux": 0.3},
    },
}


async def test_no_simulated_class_name_reaches_any_answer(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9, SIMULATED_ANSWER["class_probs"], details=SIMULATED_ANSWER["details"]))
    fakes.set("b", fakes.ok(0.9))
    async with gateway_client(gw.registry("a", "b")) as client:
        detected = await client.post("/detect", files=upload(png))
        predicted = await client.post("/predict", json={"data": base64.b64encode(png).decode()})
        history = await client.get("/history")
        one = await client.get(f"/history/{detected.json()['id']}")
        stats = await client.get("/stats")
    for response in (detected, predicted, history, one, stats):
        assert response.status_code == 200, response.text
        assert "sim_" not in response.text, response.request.url

    body = detected.json()
    # The simulated families' 0.7 of the fake mass is "AI-made, family unknown"; sdxl's 2/9 share of the
    # fake score is under the floor, so no family is named.
    assert body["attribution"]["predicted_source"] == "unknown_ai"
    assert body["attribution"]["probs"] == pytest.approx({"real": 0.1, "unknown_ai": 0.7, "sdxl": 0.2})
    a = body["detectors"][0]
    assert a["class_probs"] == pytest.approx({"real": 0.1, "unknown_ai": 0.7, "sdxl": 0.2})
    assert a["details"]["predicted_source"] == a["details"]["predicted_class"] == "unknown_ai"
    assert a["details"]["family_hint"] == "unknown_ai"
    assert a["details"]["family_probs_if_ai"] == pytest.approx({"unknown_ai": 0.7, "flux": 0.3})
    assert predicted.json()["detectors"][0]["class_probs"] == a["class_probs"]
    assert history.json()["items"][0]["predicted_source"] == "unknown_ai"
    assert one.json()["detectors"][0]["details"] == a["details"]
    assert stats.json()["by_source"] == {"unknown_ai": 2}


async def test_the_attribution_floor_is_a_gateway_setting(fakes, gateway_client, gw, png):
    fakes.set("a", fakes.ok(0.9, SIMULATED_ANSWER["class_probs"]))
    async with gateway_client(gw.registry("a"), attribution_min_share=0.2) as client:
        body = (await client.post("/detect", files=upload(png))).json()
        models = (await client.get("/models")).json()
    assert body["attribution"]["predicted_source"] == "sdxl"  # 2/9 of the fake score clears a 0.2 floor
    assert models["attribution_min_share"] == 0.2
