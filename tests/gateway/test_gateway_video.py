"""The gateway's video path: caps, keyframes to image detectors, the video part of the answer, fusion."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gateway.fusion import FusionContext, Vote, get_strategy
from gateway.video.fusion import fuse_video, summarise_keyframes
from support.video import corrupt_video, face_video, huge_video, long_video, plain_video, zero_frame_video
from tribunal_sdk.client import DetectorOutcome, DetectorStatus


def upload(data: bytes, name: str = "clip.mp4") -> dict:
    return {"file": (name, data, "application/octet-stream")}


def video_answer(prob_fake: float | None, reason: str | None = None) -> Any:
    """A fake video detector answering with the details the real one sends."""

    async def behave(request: httpx.Request) -> httpx.Response:
        details = {
            "mode": "faces",
            "frames_sampled": 12,
            "faces_found": 11,
            "faces_used": 10,
            "tracks": [{"track": 0, "faces": 10, "frames": list(range(10)), "score": prob_fake, "boxes": []}],
        }
        body = {
            "detector": request.url.host,
            "version": "0.1.0",
            "prob_fake": prob_fake,
            "abstained": prob_fake is None,
            "reason": reason,
            "elapsed_ms": 5.0,
            "details": details if prob_fake is not None else {"frames_sampled": 12, "faces_found": 0},
        }
        return httpx.Response(200, json=body)

    return behave


@pytest.fixture
def registry(gw):
    return gw.registry("img", "vid", vid={"media_types": ["video"], "timeout_s": 5.0})


@pytest.fixture(scope="module")
def clip() -> bytes:
    return plain_video(n=12)


async def test_a_video_answer_names_the_video_score_frames_faces_and_keyframe_evidence(
    fakes, gateway_client, registry, clip
):
    fakes.set("vid", video_answer(0.8))
    fakes.set("img", fakes.ok(0.3))
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(clip))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["media_type"] == "video" and body["verdict"] == "fake"
    assert body["score_fake"] == pytest.approx(0.8) and body["method"] == "average"
    video = body["video"]
    assert video["basis"] == "video_detectors" and video["video_score"] == pytest.approx(0.8)
    assert video["keyframe_score"] == pytest.approx(0.3)
    assert video["frames_used"] == 12 and video["faces_used"] == 10
    assert video["video_detectors"][0]["tracks"][0]["faces"] == 10
    assert video["container"] == {
        "format": "mp4", "frame_count": 12, "fps": 10.0, "width": 320, "height": 240, "duration_s": 1.2,
    }  # fmt: skip
    assert len(video["keyframes"]) == 6
    first = video["keyframes"][0]
    assert first["frame_index"] == 1 and first["time_s"] == pytest.approx(0.1)
    assert first["detectors"] == [
        {"name": "img", "status": "ok", "prob_fake": 0.3, "reason": None, "error": None}
    ]
    assert first["mean_prob_fake"] == pytest.approx(0.3)
    # The image detector's entry sums up its keyframes.
    img = next(d for d in body["detectors"] if d["name"] == "img")
    assert img["status"] == "ok" and img["details"]["keyframes_scored"] == 6
    # Keyframes are PNG frames of the video's own size.
    sent = fakes.last_request["img"].content
    assert b"\x89PNG" in sent
    assert "points the other way" in " ".join(body["warnings"])


async def test_keyframe_attribution_names_families_only(fakes, gateway_client, registry, clip):
    fakes.set("vid", video_answer(0.8))
    fakes.set("img", fakes.ok(0.9, {"real": 0.1, "sim_transposed_conv": 0.3, "flux": 0.6}))
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(clip))
    assert response.status_code == 200, response.text
    assert "sim_" not in response.text
    body = response.json()
    img = next(d for d in body["detectors"] if d["name"] == "img")
    assert img["class_probs"] == pytest.approx({"real": 0.1, "unknown_ai": 0.3, "flux": 0.6})
    assert body["attribution"]["predicted_source"] == "flux"  # 2/3 of the fake mass
    assert body["attribution"]["probs"] == pytest.approx(
        {"real": 0.2, "flux": 0.8 * 2 / 3, "unknown_ai": 0.8 / 3}
    )


async def test_no_face_abstention_falls_back_to_keyframes_and_is_never_a_half(
    fakes, gateway_client, registry, clip
):
    fakes.set("vid", video_answer(None, reason="no_face"))
    fakes.set("img", fakes.ok(0.9))
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip))).json()
    assert body["score_fake"] == pytest.approx(0.9) and body["verdict"] == "fake"
    assert body["method"] == "average over keyframes (no video detector gave a score)"
    assert body["video"]["basis"] == "keyframes" and body["video"]["video_score"] is None
    vid = next(d for d in body["detectors"] if d["name"] == "vid")
    assert vid["status"] == "abstained" and vid["reason"] == "no_face"
    assert body["degraded"] is False


async def test_everyone_abstaining_is_uncertain_without_a_score(fakes, gateway_client, registry, clip):
    fakes.set("vid", video_answer(None, reason="no_face"))
    fakes.set("img", fakes.abstain())
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip))).json()
    assert body["verdict"] == "uncertain" and body["score_fake"] is None
    assert body["video"]["basis"] == "none"


async def test_a_video_detector_down_degrades_the_answer_and_keyframes_decide(
    fakes, gateway_client, registry, clip
):
    fakes.set("vid", fakes.refuse())
    fakes.set("img", fakes.ok(0.2))
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip))).json()
    assert body["degraded"] is True and body["missing"] == ["vid"]
    assert body["verdict"] == "real" and body["video"]["basis"] == "keyframes"


async def test_an_image_detector_failing_on_every_keyframe_is_named(fakes, gateway_client, registry, clip):
    fakes.set("vid", video_answer(0.1))
    fakes.set("img", fakes.status(500))
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip))).json()
    img = next(d for d in body["detectors"] if d["name"] == "img")
    assert img["status"] == "error" and img["error"].startswith("on every keyframe")
    assert body["missing"] == ["img"] and body["score_fake"] == pytest.approx(0.1)
    assert all(k["detectors"][0]["status"] == "error" for k in body["video"]["keyframes"])


async def test_nobody_answering_is_a_503_naming_them(fakes, gateway_client, registry, clip):
    fakes.set("vid", fakes.refuse())
    fakes.set("img", fakes.refuse())
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(clip))
    assert response.status_code == 503
    assert {d["name"] for d in response.json()["detectors"]} == {"vid", "img"}


async def test_a_hard_video_detector_failing_is_a_503(fakes, gateway_client, gw, clip):
    fakes.set("vid", fakes.status(500))
    fakes.set("img", fakes.ok(0.5))
    registry = gw.registry("img", "vid", vid={"media_types": ["video"], "dependency": "hard"})
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(clip))
    assert response.status_code == 503 and response.json()["error"] == "hard_dependency_failed"


@pytest.mark.parametrize(
    "maker,status,code",
    [
        (corrupt_video, 400, "video_unreadable"),
        (zero_frame_video, 400, "video_unreadable"),
        (huge_video, 413, "video_resolution_too_large"),
    ],
)
async def test_bad_videos_are_refused_before_any_detector_is_called(
    fakes, gateway_client, registry, gw, maker, status, code
):
    fakes.set("vid", video_answer(0.5))
    fakes.set("img", fakes.ok(0.5))
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(maker()))
    assert response.status_code == status, response.text
    assert gw.error_body(response)["error"] == code
    assert fakes.calls == {}


async def test_duration_cap_is_a_413(fakes, gateway_client, registry, monkeypatch, gw):
    monkeypatch.setenv("TRIBUNAL_MAX_VIDEO_DURATION_S", "5")
    fakes.set("vid", video_answer(0.5))
    fakes.set("img", fakes.ok(0.5))
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(long_video(seconds=8)))
    assert response.status_code == 413
    body = gw.error_body(response)
    assert body["error"] == "video_too_long" and "the limit is 5 s" in body["detail"]


async def test_the_byte_cap_still_applies_to_videos(fakes, gateway_client, registry, gw):
    fakes.set("vid", video_answer(0.5))
    data = face_video(n=30)
    async with gateway_client(registry, max_upload_mb=len(data) / 2 / 1024 / 1024) as client:
        response = await client.post("/detect", files=upload(data))
    assert response.status_code == 413


async def test_the_container_is_sniffed_not_taken_from_the_name(fakes, gateway_client, registry, clip):
    fakes.set("vid", video_answer(0.4))
    fakes.set("img", fakes.ok(0.4))
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip, "photo.png"))).json()
    assert body["media_type"] == "video" and body["video"]["container"]["format"] == "mp4"
    webm = plain_video("webm", n=6)
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(webm, "clip.mp4"))).json()
    assert body["video"]["container"]["format"] == "webm" and len(body["video"]["keyframes"]) == 6


async def test_models_can_pick_keyframes_only_or_the_video_only(fakes, gateway_client, registry, clip):
    fakes.set("vid", video_answer(0.7))
    fakes.set("img", fakes.ok(0.2))
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip), data={"models": "img"})).json()
        assert fakes.calls == {"img": 6}
        assert body["video"]["basis"] == "keyframes"
        assert {(d["name"], d["status"]) for d in body["detectors"]} == {("img", "ok"), ("vid", "skipped")}
        fakes.calls.clear()
        body = (await client.post("/detect", files=upload(clip), data={"models": "vid"})).json()
        assert fakes.calls == {"vid": 1} and body["video"]["keyframes"] == []


async def test_zero_keyframes_setting_sends_none(fakes, gateway_client, registry, clip, monkeypatch):
    monkeypatch.setenv("TRIBUNAL_VIDEO_KEYFRAMES", "0")
    fakes.set("vid", video_answer(0.7))
    fakes.set("img", fakes.ok(0.2))
    async with gateway_client(registry) as client:
        body = (await client.post("/detect", files=upload(clip))).json()
    assert fakes.calls == {"vid": 1} and body["score_fake"] == pytest.approx(0.7)


async def test_no_detector_for_video_or_its_keyframes_is_a_415(fakes, gateway_client, gw, clip):
    registry = gw.registry(
        "img", "vid", img={"enabled": False}, vid={"media_types": ["video"], "enabled": False}
    )
    async with gateway_client(registry) as client:
        response = await client.post("/detect", files=upload(clip))
    assert response.status_code == 415
    assert gw.error_body(response)["error"] == "no_detector_for_media_type"


async def test_base64_predict_takes_videos_too(fakes, gateway_client, registry, clip):
    import base64

    fakes.set("vid", video_answer(0.6))
    fakes.set("img", fakes.ok(0.6))
    async with gateway_client(registry) as client:
        response = await client.post(
            "/predict", json={"data": base64.b64encode(clip).decode(), "media_type": "video"}
        )
    assert response.status_code == 200 and response.json()["video"]["frames_used"] == 12
    json.dumps(response.json())  # plain JSON all the way down


# ---- the fusion rule itself ------------------------------------------------------------------------------


def ctx(media_type: str) -> FusionContext:
    return FusionContext(media_type=media_type, threshold=0.5, uncertainty_band=0.1)


def test_video_votes_decide_and_keyframes_only_inform():
    strategy = get_strategy("average")
    fused = fuse_video(
        strategy, [Vote("vid", 0.2)], [Vote("img", 0.9), Vote("clip", 0.7)], ctx("video"), ctx("image")
    )
    assert fused.basis == "video_detectors" and fused.result.score_fake == pytest.approx(0.2)
    assert fused.keyframe_score == pytest.approx(0.8) and fused.warnings
    same_side = fuse_video(strategy, [Vote("vid", 0.2)], [Vote("img", 0.3)], ctx("video"), ctx("image"))
    assert same_side.warnings == []
    fallback = fuse_video(strategy, [], [Vote("img", 0.9), Vote("clip", 0.7)], ctx("video"), ctx("image"))
    assert fallback.basis == "keyframes" and fallback.result.score_fake == pytest.approx(0.8)
    nothing = fuse_video(strategy, [], [], ctx("video"), ctx("image"))
    assert (
        nothing.basis == "none"
        and nothing.result.score_fake is None
        and nothing.result.verdict == "uncertain"
    )


def test_keyframe_summary_averages_scores_and_leaves_abstentions_out():
    ok = [DetectorOutcome(name="img", status=DetectorStatus.OK, prob_fake=p) for p in (0.2, 0.6)]
    abstained = DetectorOutcome(
        name="img", status=DetectorStatus.ABSTAINED, abstained=True, reason="no_evidence"
    )
    summary = summarise_keyframes("img", [*ok, abstained])
    assert summary.status == DetectorStatus.OK and summary.prob_fake == pytest.approx(0.4)
    assert summary.details["keyframes_scored"] == 2 and summary.details["keyframes_sent"] == 3
    only_abstained = summarise_keyframes("img", [abstained, abstained])
    assert only_abstained.status == DetectorStatus.ABSTAINED and only_abstained.prob_fake is None
    with_probs = [
        DetectorOutcome(
            name="a", status=DetectorStatus.OK, prob_fake=0.8, class_probs={"real": 0.2, "sdxl": 0.8}
        ),
        DetectorOutcome(
            name="a", status=DetectorStatus.OK, prob_fake=0.6, class_probs={"real": 0.4, "flux": 0.6}
        ),
    ]
    assert summarise_keyframes("a", with_probs).class_probs == pytest.approx(
        {"real": 0.3, "sdxl": 0.4, "flux": 0.3}
    )
