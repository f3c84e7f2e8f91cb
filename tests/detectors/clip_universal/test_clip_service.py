"""The detector through the real SDK service: committed default weights, explanations, readiness."""

import base64
import io
import time

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


def test_info_names_the_backbone_and_the_view(client, default_detector):
    info = client.get("/info").json()
    head = default_detector.options.default.head
    pinned = next(w for w in default_detector.spec.weights if w.file == head)
    assert info["name"] == "clip_universal" and info["task"] == "binary" and info["input_size"] == 512
    assert info["backbone"] == "efficientnet_" + "+".join(default_detector.options.default.backbones)
    assert info["mode"] == "default (no CLIP weights)"
    assert info["weights"][0] == {"file": head, "sha256": pinned.sha256, "origin": pinned.origin}
    assert info["feature_dim"] == default_detector.model.encoder.dim
    assert info["crops"] == 5 and info["crop_px"] == 512 and "resized" in info["preprocessing"]


def test_committed_head_is_small_pinned_and_weights_only(default_detector):
    head = default_detector.options.default.head
    path = default_detector.weights_path(head)
    assert path.stat().st_size < 25_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == {"weight", "bias"}
    weights_dir = default_detector.directory() / "weights"
    assert (weights_dir / "MODEL_CARD.md").is_file() and (weights_dir / "oof_answers.json").is_file()


def test_a_large_upload_is_five_crops_whose_logits_are_averaged(client, default_detector, make_image):
    image = make_image(1024, 1024, seed=11)
    response = client.post("/predict", files={"file": ("x.png", encode(image, "PNG"), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detector"] == "clip_universal" and 0.0 <= body["prob_fake"] <= 1.0
    assert body["details"]["crops"] == 5 and body["details"]["analysed_crop_px"] == 512
    # The same number from the pieces: the centre and the four corners, each resized per backbone.
    boxes = [(256, 256), (0, 0), (512, 0), (0, 512), (512, 512)]
    crops = [image.crop((x, y, x + 512, y + 512)) for x, y in boxes]
    head = load_linear_head(
        default_detector.weights_path(default_detector.options.default.head),
        default_detector.spec.weights[0].sha256,
        default_detector.model.encoder.dim,
    )
    with torch.no_grad():
        logits = head(default_detector.model.encoder.encode_views(crops))[:, 0]
    expected = torch.sigmoid(logits.double().mean()).item()
    assert body["prob_fake"] == pytest.approx(expected, abs=1e-5)


def test_one_crop_when_the_operator_asks(monkeypatch, make_image):
    monkeypatch.setenv("TRIBUNAL_CROPS", "1")
    detector = ClipUniversalDetector(device="cpu")
    assert detector.crops == 1
    monkeypatch.setenv("TRIBUNAL_CROPS", "zero")
    with pytest.raises(ValueError, match="TRIBUNAL_CROPS"):
        ClipUniversalDetector(device="cpu")


def test_batching_does_not_change_scores(default_detector, make_image):
    images = [make_image(256, 256, seed=s) for s in (1, 2, 3)] + [make_image(700, 520, seed=4)]
    inputs = [ImageInput(image=img, raw=b"", format="png") for img in images]
    together = [p.prob_fake for p in default_detector.predict_batch(inputs)]
    alone = [default_detector.predict_batch([item])[0].prob_fake for item in inputs]
    assert together == pytest.approx(alone, abs=1e-5)


def test_small_image_is_crops_of_its_shorter_side_without_padding(client, make_image):
    body = client.post(
        "/predict", files={"file": ("s.jpg", encode(make_image(120, 90), "JPEG"), "image/jpeg")}
    ).json()
    # 90 x 90 windows: the centre one and the two ends of the wider side.
    assert body["details"]["crops"] == 3 and body["details"]["analysed_crop_px"] == 90
    assert body["details"]["padded"] is False and PADDED_WARNING not in body["warnings"]


def test_explain_covers_the_whole_image(client, default_detector, make_image):
    image = make_image(1024, 768, seed=5)
    response = client.post(
        "/predict?explain=true", files={"file": ("x.png", encode(image, "PNG"), "image/png")}
    )
    body = response.json()
    assert response.status_code == 200 and body["heatmap_png"], body
    png = Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"])))
    assert png.format == "PNG" and png.size == (512, 384)  # the SDK sends maps at most 512 px a side
    item = ImageInput(image=image, raw=b"", format="png")
    heat = default_detector.explain(item, default_detector.predict_batch([item])[0])
    assert heat.shape == (384, 512) and heat.min() >= 0.0 and heat.max() <= 1.0
    # Evidence is mapped in every corner, not only in the centre crop.
    for corner in (heat[:64, :64], heat[:64, -64:], heat[-64:, :64], heat[-64:, -64:]):
        assert corner.max() > 0.05


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
