"""The video detector on videos the tests make, directly and through the real SDK service."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from detectors.video_vit.aggregate import track_score, video_score
from detectors.video_vit.detector import VideoVitDetector
from detectors.video_vit.options import VideoVitOptions
from detectors.video_vit.weights import load_default
from support.media import png_bytes
from support.video import (
    corrupt_video,
    face_video,
    huge_video,
    long_video,
    one_frame_video,
    plain_video,
    truncated_video,
    zero_frame_video,
)
from tribunal_sdk import VideoInput, create_app
from tribunal_sdk.errors import MediaTooLarge, UndecodableMedia
from tribunal_sdk.settings import ServiceSettings


def as_input(tmp_path: Path, data: bytes, name: str = "upload.mp4") -> VideoInput:
    path = tmp_path / name
    path.write_bytes(data)
    return VideoInput(path=path, format="mp4", n_bytes=len(data))


# ---- the detector object ------------------------------------------------------------------------------


def test_a_face_video_is_scored_by_the_published_rule_with_details(detector, tmp_path):
    prediction = detector.predict_video(as_input(tmp_path, face_video(n=12)))
    assert not prediction.abstained and 0.0 <= prediction.prob_fake <= 1.0
    details = prediction.details
    assert details["mode"] == "faces"
    assert details["frames_sampled"] == 12 and details["frame_indices"] == list(range(12))
    assert details["faces_found"] >= 10 and details["faces_used"] >= 10
    assert len(details["tracks"]) == 1
    track = details["tracks"][0]
    assert track["faces"] == len(track["face_scores"]) == len(track["frames"]) == len(track["boxes"])
    assert track["score"] == pytest.approx(track_score(track["face_scores"]), abs=1e-3)
    assert prediction.prob_fake == pytest.approx(video_score([track["score"]]), abs=1e-3)
    assert details["video"]["width"] == 360 and details["video"]["fps"] == 10.0


def test_at_most_30_frames_are_sampled_from_a_longer_video(detector, tmp_path):
    prediction = detector.predict_video(as_input(tmp_path, plain_video(n=45)))
    assert prediction.details["frames_sampled"] == 30
    assert len(set(prediction.details["frame_indices"])) == 30


def test_no_face_abstains_with_no_face_never_a_half(detector, tmp_path):
    prediction = detector.predict_video(as_input(tmp_path, plain_video(n=12)))
    assert prediction.abstained and prediction.reason == "no_face" and prediction.prob_fake is None
    assert prediction.details["frames_sampled"] == 12 and prediction.details["faces_found"] == 0


def test_frames_mode_scores_whole_frames_of_a_faceless_video(frames_detector, tmp_path):
    prediction = frames_detector.predict_video(as_input(tmp_path, plain_video(n=12)))
    assert not prediction.abstained and 0.0 <= prediction.prob_fake <= 1.0
    assert prediction.details["mode"] == "frames"
    assert prediction.details["inputs_scored"] == 12 and prediction.details["faces_used"] == 0


def test_a_one_frame_video_is_scored_with_a_warning(detector, tmp_path):
    prediction = detector.predict_video(as_input(tmp_path, one_frame_video()))
    assert prediction.details["frames_sampled"] == 1 and prediction.details["faces_used"] == 1
    assert prediction.prob_fake is not None
    assert any("1 frame" in w for w in prediction.warnings)


@pytest.mark.parametrize(
    "maker,error,code",
    [
        (corrupt_video, UndecodableMedia, "video_unreadable"),
        (zero_frame_video, UndecodableMedia, "video_unreadable"),
        (truncated_video, UndecodableMedia, "video_unreadable"),
        (huge_video, MediaTooLarge, "video_resolution_too_large"),
    ],
)
def test_bad_files_raise_typed_errors(detector, tmp_path, maker, error, code):
    with pytest.raises(error) as err:
        detector.predict_video(as_input(tmp_path, maker()))
    assert err.value.code == code


def test_duration_cap(detector, tmp_path):
    capped = VideoVitDetector(options=VideoVitOptions(max_duration_s=5))
    capped.loaded, capped.faces = detector.loaded, detector.faces
    with pytest.raises(MediaTooLarge) as err:
        capped.predict_video(as_input(tmp_path, long_video(seconds=8)))
    assert err.value.code == "video_too_long" and "8.0 s" in err.value.detail


def test_the_shipped_default_is_pinned_small_and_describes_itself(detector):
    path = detector.weights_path(detector.options.weights_file)
    assert path.stat().st_size < 25_000_000
    loaded = load_default(path)  # the safetensors metadata alone rebuilds the model
    assert loaded.model.cfg.backbone == "lite0" and loaded.model.cfg.name.startswith(
        "cross_efficient_vit_small"
    )
    info = detector.runtime_info()
    assert info["weights_in_use"]["sha256"] == detector.spec.weights[0].sha256
    assert info["model_config"]["depth"] == 1 and info["mode"] == "faces"


def test_published_weights_must_be_pinned_and_match(tmp_path):
    with pytest.raises(ValueError, match="published_sha256"):
        VideoVitOptions(published_weights=tmp_path / "cross_efficient_vit.pth")
    fake = tmp_path / "cross_efficient_vit.pth"
    fake.write_bytes(b"not the published checkpoint")
    wrong = VideoVitDetector(options=VideoVitOptions(published_weights=fake, published_sha256="0" * 64))
    with pytest.raises(Exception, match="sha256"):
        wrong.load()


# ---- through the SDK service -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(VideoVitDetector(), ServiceSettings(max_upload_mb=20))) as c:
        deadline = time.monotonic() + 60
        while not c.get("/ready").json().get("ready"):
            assert time.monotonic() < deadline, c.get("/ready").json()
            time.sleep(0.05)
        yield c


def post(client: TestClient, data: bytes, name: str = "clip.mp4"):
    return client.post("/predict", files={"file": (name, data, "application/octet-stream")})


def test_service_info_and_a_face_video(client):
    info = client.get("/info").json()
    assert info["name"] == "video_vit" and info["media_types"] == ["video"]
    assert "EfficientNet-LITE0" in info["backbone"] and info["max_batch_size"] == 1
    assert info["aggregation"].startswith("per-face sigmoid")
    response = post(client, face_video(n=8))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detector"] == "video_vit" and body["abstained"] is False
    assert body["details"]["frames_sampled"] == 8 and body["details"]["faces_used"] >= 6


@pytest.mark.parametrize("ext", ["webm", "avi", "mov"])
def test_service_reads_every_accepted_container(client, ext):
    response = post(client, face_video(ext, n=6), name=f"clip.{ext}")
    assert response.status_code == 200, response.text
    assert response.json()["details"]["frames_sampled"] == 6


def test_service_no_face_is_an_abstention(client):
    body = post(client, plain_video(n=6)).json()
    assert body["abstained"] is True and body["reason"] == "no_face" and body["prob_fake"] is None


def test_the_extension_is_never_trusted(client):
    # An MP4 named like a photo is still a video; a PNG named like a video is an image (refused: 415).
    assert post(client, face_video(n=4), name="holiday.jpg").status_code == 200
    response = post(client, png_bytes(), name="clip.mp4")
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "maker,status,code",
    [
        (corrupt_video, 400, "video_unreadable"),
        (zero_frame_video, 400, "video_unreadable"),
        (huge_video, 413, "video_resolution_too_large"),
    ],
)
def test_service_bad_files_are_4xx_and_the_service_keeps_answering(client, maker, status, code):
    response = post(client, maker())
    assert response.status_code == status, response.text
    assert response.json() == {"error": code, "detail": response.json()["detail"]}
    assert post(client, one_frame_video()).status_code == 200
