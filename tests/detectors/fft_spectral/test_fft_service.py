"""fft_spectral through the real SDK app, with the committed default classifier: several native
crops of an upload, scored and averaged."""

import base64
import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from detectors.common.views import crop_boxes
from detectors.fft_spectral.detector import WEIGHTS_FILE, FftSpectralDetector
from support.media import encode, noisy_image
from support.weights import require_trained_weights
from tribunal_sdk import DetectorSpec, create_app
from tribunal_sdk.settings import ServiceSettings


def _wait(client, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/ready")
        if r.status_code == 200 or r.json().get("status") == "failed":
            return r
        time.sleep(0.02)
    raise AssertionError("service never finished loading")


@pytest.fixture(scope="module")
def client():
    require_trained_weights(FftSpectralDetector)
    with TestClient(create_app(FftSpectralDetector(), ServiceSettings())) as c:
        assert _wait(c).status_code == 200, c.get("/ready").json()
        yield c


def test_committed_bundle_loads(client):
    info = client.get("/info").json()
    assert info["task"] == "binary" and info["classes"] == ["real", "fake"]
    assert info["weights"][0]["file"] == WEIGHTS_FILE and len(info["weights"][0]["sha256"]) == 64
    assert "classifier" in info["backbone"]
    assert info["input_size"] in (256, 512) and info["crops"] == 5
    assert f"{info['input_size']} native px" in info["view"] and "never resized" in info["view"]
    assert (FftSpectralDetector.directory() / "weights" / "MODEL_CARD.md").is_file()


def _side(client) -> int:
    return client.get("/info").json()["input_size"]


def test_predict_gives_a_probability_and_a_family_hint(client):
    r = client.post(
        "/predict", files={"file": ("x.jpg", encode(noisy_image((300, 280)), "JPEG"), "image/jpeg")}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert 0.0 <= body["prob_fake"] <= 1.0 and body["class_probs"] is None
    details = body["details"]
    assert details["family_hint"] in details["family_probs_if_ai"]
    assert sum(details["family_probs_if_ai"].values()) == pytest.approx(1.0, abs=1e-3)
    side = _side(client)
    assert details["analysed_crop_px"] == min(side, 280)
    assert details["crops"] == len(crop_boxes(300, 280, 5, side=side))


def test_a_large_upload_is_analysed_as_five_native_crops(client):
    data = encode(noisy_image((1024, 1024)), "PNG")
    r = client.post("/predict", files={"file": ("x.png", data, "image/png")})
    assert r.status_code == 200, r.text
    details = r.json()["details"]
    assert details["crops"] == 5 and details["analysed_crop_px"] == _side(client)
    assert 0.0 <= r.json()["prob_fake"] <= 1.0


def test_tribunal_crops_1_analyses_the_centre_crop_only(monkeypatch):
    require_trained_weights(FftSpectralDetector)
    monkeypatch.setenv("TRIBUNAL_CROPS", "1")
    with TestClient(create_app(FftSpectralDetector(), ServiceSettings())) as c:
        assert _wait(c).status_code == 200
        assert c.get("/info").json()["crops"] == 1
        data = encode(noisy_image((1024, 1024)), "PNG")
        r = c.post("/predict", files={"file": ("x.png", data, "image/png")})
        assert r.status_code == 200, r.text
        assert r.json()["details"]["crops"] == 1


def test_explain_returns_the_spectrum_with_the_band(client):
    data = encode(noisy_image((200, 160)), "PNG")
    r = client.post("/predict?explain=true", files={"file": ("x.png", data, "image/png")})
    assert r.status_code == 200, r.text
    png = Image.open(io.BytesIO(base64.b64decode(r.json()["heatmap_png"])))
    assert png.format == "PNG" and png.size == (160, 160)  # the analysed crop's spectrum
    band = r.json()["details"]["deviating_band"]
    assert 0.0 <= band["from_nyquist"] <= band["to_nyquist"] <= 1.0 and band["crop"] == "centre"


class _ElsewhereDetector(FftSpectralDetector):
    folder = None

    def __init__(self, spec=None):
        super().__init__(spec or FftSpectralDetector().spec)

    def weights_path(self, filename):
        return self.folder / filename


def test_missing_bundle_means_not_ready_with_the_reason(tmp_path):
    _ElsewhereDetector.folder = tmp_path
    with TestClient(create_app(_ElsewhereDetector(), ServiceSettings())) as c:
        r = _wait(c)
        assert r.status_code == 503 and "make train-detector NAME=fft_spectral" in r.json()["reason"]
        assert c.get("/health").status_code == 200


def test_bundle_with_the_wrong_sha256_is_refused(tmp_path):
    require_trained_weights(FftSpectralDetector)
    (tmp_path / WEIGHTS_FILE).write_bytes(
        (FftSpectralDetector.directory() / "weights" / WEIGHTS_FILE).read_bytes()
    )
    spec = FftSpectralDetector().spec.model_dump()
    spec["weights"][0]["sha256"] = "1" * 64
    _ElsewhereDetector.folder = tmp_path
    with TestClient(
        create_app(_ElsewhereDetector(DetectorSpec.model_validate(spec)), ServiceSettings())
    ) as c:
        r = _wait(c)
        assert r.status_code == 503 and "sha256" in r.json()["reason"]
