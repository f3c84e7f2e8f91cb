"""The detector through the real SDK service: committed default weights, explanations, readiness."""

import base64
import io
import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from detectors.clip_universal.detector import PADDED_WARNING, ClipUniversalDetector
from detectors.clip_universal.options import ClipOptions, DefaultOptions, DetectorOptions
from detectors.clip_universal.published_weights import load_linear_head
from support.media import encode
from tribunal_sdk import ImageInput, create_app
from tribunal_sdk.detector import WeightFile
from tribunal_sdk.settings import ServiceSettings


def _wait_settled(client: TestClient, timeout: float = 60.0) -> dict:
    """Poll /ready until the model is loaded or has failed; returns the last /ready body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get("/ready").json()
        if body.get("ready") or body.get("status") == "failed":
            return body
        time.sleep(0.05)
    raise AssertionError("the model neither loaded nor failed")


@pytest.fixture(scope="module")
def default_detector() -> ClipUniversalDetector:
    detector = ClipUniversalDetector(device="cpu")
    head = next(w for w in detector.spec.weights if w.file == detector.options.default.head)
    if head.sha256 is None:
        # Only before the first training run: once detector.yaml pins a digest, a missing or
        # different head file makes these tests fail, as it should.
        pytest.skip(
            "the default head is not trained yet: make benchmark && make train-detector NAME=clip_universal"
        )
    detector.load()
    return detector


@pytest.fixture(scope="module")
def client(default_detector):
    with TestClient(create_app(default_detector, ServiceSettings())) as c:
        assert _wait_settled(c)["ready"] is True
        yield c


def test_info_names_the_backbone_in_use(client, default_detector):
    info = client.get("/info").json()
    head = default_detector.options.default.head
    pinned = next(w for w in default_detector.spec.weights if w.file == head)
    assert info["name"] == "clip_universal" and info["task"] == "binary" and info["input_size"] == 224
    assert info["backbone"] == f"efficientnet_{default_detector.options.default.backbone}"
    assert info["mode"] == "default (no CLIP weights)"
    assert info["weights"][0] == {"file": head, "sha256": pinned.sha256, "origin": pinned.origin}
    assert info["feature_dim"] == default_detector.model.encoder.dim


def test_committed_head_is_small_pinned_and_weights_only(default_detector):
    head = default_detector.options.default.head
    path = default_detector.weights_path(head)
    assert path.stat().st_size < 25_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == {"weight", "bias"}
    assert (default_detector.directory() / "weights" / "MODEL_CARD.md").is_file()


def test_predict_equals_the_probe_on_the_crop(client, default_detector, make_image):
    image = make_image(300, 280, seed=11)
    response = client.post("/predict", files={"file": ("x.png", encode(image, "PNG"), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detector"] == "clip_universal" and 0.0 <= body["prob_fake"] <= 1.0
    assert body["details"]["padded"] is False and body["warnings"] == []
    # The same number from the pieces: encoder features of the centre crop -> the committed head.
    model = default_detector.model
    crop = image.crop((38, 28, 262, 252))  # round((300-224)/2), round((280-224)/2)
    x = (torch.from_numpy(np.asarray(crop, np.float32) / 255).permute(2, 0, 1)[None] - 0.5) / 0.5
    head = load_linear_head(
        default_detector.weights_path(default_detector.options.default.head),
        default_detector.spec.weights[0].sha256,
        model.encoder.dim,
    )
    with torch.no_grad():
        expected = torch.sigmoid(head(model.encoder(x)))[0, 0].item()
    assert body["prob_fake"] == pytest.approx(expected, abs=1e-5)


def test_batching_does_not_change_scores(default_detector, make_image):
    images = [make_image(256, 256, seed=s) for s in (1, 2, 3)]
    inputs = [ImageInput(image=img, raw=b"", format="png") for img in images]
    together = [p.prob_fake for p in default_detector.predict_batch(inputs)]
    alone = [default_detector.predict_batch([item])[0].prob_fake for item in inputs]
    assert together == pytest.approx(alone, abs=1e-5)


def test_small_image_is_padded_and_says_so(client, make_image):
    body = client.post(
        "/predict", files={"file": ("s.jpg", encode(make_image(120, 90), "JPEG"), "image/jpeg")}
    ).json()
    assert body["details"]["padded"] is True
    assert PADDED_WARNING in body["warnings"]


def test_explain_returns_a_gradcam_png(client, default_detector, make_image):
    image = make_image(400, 300, seed=5)
    response = client.post(
        "/predict?explain=true", files={"file": ("x.png", encode(image, "PNG"), "image/png")}
    )
    body = response.json()
    assert response.status_code == 200 and body["heatmap_png"], body
    png = Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"])))
    assert png.format == "PNG" and png.size == (400, 300)
    # The map itself: non-trivial inside the analysed crop, zero outside it.
    item = ImageInput(image=image, raw=b"", format="png")
    heat = default_detector.explain(item, default_detector.predict_batch([item])[0])
    assert heat.shape == (300, 400)
    assert heat[38:262, 88:312].std() > 0.01 and heat[38:262, 88:312].max() > 0.5
    assert not heat[:, :88].any() and not heat[:38].any()


def test_missing_default_head_keeps_the_service_alive_but_not_ready():
    options = DetectorOptions(default=DefaultOptions(head="probe_missing.pth"))
    spec = ClipUniversalDetector().spec.model_copy(
        update={"weights": [WeightFile(file="probe_missing.pth", sha256="0" * 64, origin="test")]}
    )
    detector = ClipUniversalDetector(spec=spec, device="cpu", options=options)
    with TestClient(create_app(detector, ServiceSettings())) as c:
        body = _wait_settled(c)
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").status_code == 503
        assert body["ready"] is False
        assert (
            "probe_missing.pth" in body["reason"]
            and "make train-detector NAME=clip_universal" in body["reason"]
        )
        response = c.post(
            "/predict", files={"file": ("x.png", encode(Image.new("RGB", (64, 64)), "PNG"), "image/png")}
        )
        assert response.status_code == 503 and response.json()["error"] == "not_ready"


def test_configured_but_missing_clip_weights_do_not_fall_back_silently(tmp_path):
    options = DetectorOptions(clip=ClipOptions(weights=tmp_path / "ViT-L-14.pt"))
    with TestClient(create_app(ClipUniversalDetector(device="cpu", options=options), ServiceSettings())) as c:
        body = _wait_settled(c)
        assert c.get("/ready").status_code == 503
        assert "TRIBUNAL_CLIP_WEIGHTS" in body["reason"] and "ViT-L-14.pt" in body["reason"]


def test_clip_weights_without_the_head_say_where_to_put_it(tmp_path, make_image):
    weights = tmp_path / "ViT-L-14.pt"
    weights.write_bytes(b"placeholder")
    options = DetectorOptions(clip=ClipOptions(weights=weights, fc_weights=tmp_path / "fc_weights.pth"))
    with TestClient(create_app(ClipUniversalDetector(device="cpu", options=options), ServiceSettings())) as c:
        reason = _wait_settled(c)["reason"]
    assert "fc_weights.pth" in reason and "TRIBUNAL_CLIP_FC_WEIGHTS" in reason
