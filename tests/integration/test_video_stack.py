"""The real video detector process behind the real gateway: /detect with an MP4 names frames and faces."""

from __future__ import annotations

import httpx
import pytest

from support.stack import detector_entry, running_stack
from support.video import face_video, plain_video

pytestmark = pytest.mark.integration


def detect(stack, data: bytes, name: str = "clip.mp4") -> httpx.Response:
    return httpx.post(
        stack.service("gateway").url + "/detect",
        files={"file": (name, data, "application/octet-stream")},
        timeout=120.0,
    )


def test_detect_an_mp4_with_the_real_video_detector_and_keyframes(tmp_path):
    entries = [
        detector_entry("video_vit", media_types=["video"], timeout_s=90.0),
        detector_entry("latency_probe"),  # an image detector for the keyframes
    ]
    with running_stack(tmp_path, entries) as stack:
        response = detect(stack, face_video(n=10))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["media_type"] == "video" and body["degraded"] is False
        statuses = {d["name"]: d["status"] for d in body["detectors"]}
        assert statuses == {"video_vit": "ok", "latency_probe": "ok"}
        video = body["video"]
        assert video["basis"] == "video_detectors"
        assert video["frames_used"] == 10 and video["faces_used"] >= 8
        assert body["score_fake"] == pytest.approx(video["video_score"])
        assert len(video["keyframes"]) == 6
        assert all(k["detectors"][0]["status"] == "ok" for k in video["keyframes"])

        # No face: the video detector abstains and the keyframes decide; never a 0.5 from it.
        body = detect(stack, plain_video(n=8), name="holiday.avi").json()
        vid = next(d for d in body["detectors"] if d["name"] == "video_vit")
        assert vid["status"] == "abstained" and vid["reason"] == "no_face"
        assert body["video"]["basis"] == "keyframes"
