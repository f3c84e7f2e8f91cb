"""attribution_cnn through the real SDK app, with the committed default weights."""

import base64
import io
import re
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from detectors.attribution_cnn.detector import WEIGHTS_FILE, AttributionCnnDetector
from detectors.attribution_cnn.model import read_meta
from detectors.common.efficientnet_lite import VARIANTS
from support.media import encode, noisy_image
from support.weights import require_trained_weights
from tribunal_sdk import DetectorSpec, create_app
from tribunal_sdk.settings import ServiceSettings


def _wait(client, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/ready")
        if r.status_code == 200 or r.json().get("status") == "failed":
            return r
        time.sleep(0.05)
    raise AssertionError("service never finished loading")


@pytest.fixture(scope="module")
def client():
    require_trained_weights(AttributionCnnDetector)
    with TestClient(create_app(AttributionCnnDetector(), ServiceSettings())) as c:
        assert _wait(c).status_code == 200, c.get("/ready").json()
        yield c


def test_committed_weights_load_and_info_names_the_backbone(client):
    info = client.get("/info").json()
    assert info["task"] == "attribution" and info["classes"][0] == "real"
    assert len(info["classes"]) >= 3
    assert info["weights"][0]["file"] == WEIGHTS_FILE and len(info["weights"][0]["sha256"]) == 64
    found = re.search(r"efficientnet_(lite[0-9])", info["backbone"])
    assert found and found.group(1) in VARIANTS, info["backbone"]
    size = read_meta(AttributionCnnDetector.directory() / "weights" / WEIGHTS_FILE).config.input_size
    assert info["view"]["crop_size"] == 512 and info["view"]["input_size"] == info["input_size"] == size
    assert info["view"]["crops"] == 5
    # Public family names only: nothing simulated reaches a user.
    assert not [c for c in info["classes"] if c.startswith("sim_")]
    assert (AttributionCnnDetector.directory() / "weights" / WEIGHTS_FILE).stat().st_size < 25_000_000
    assert (AttributionCnnDetector.directory() / "weights" / "MODEL_CARD.md").is_file()
    assert (AttributionCnnDetector.directory() / "weights" / "oof_answers.json").is_file()


def test_predict_returns_class_probs_over_all_classes(client):
    data = encode(noisy_image((300, 260)), "JPEG", quality=90)
    r = client.post("/predict", files={"file": ("x.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    classes = client.get("/info").json()["classes"]
    assert set(body["class_probs"]) == set(classes)
    assert sum(body["class_probs"].values()) == pytest.approx(1.0, abs=1e-6)
    assert body["prob_fake"] == pytest.approx(1.0 - body["class_probs"]["real"], abs=1e-6)
    assert body["details"]["predicted_class"] in classes
    assert body["details"]["predicted_source"] in classes[1:]
    # 300 x 260: crops of the shorter side, the centre plus the two ends.
    assert body["details"]["analysed_crop_px"] == 260 and body["details"]["crops"] == 3
    assert body["heatmap_png"] is None


def test_batched_predictions_match_single_ones(client):
    images = [encode(noisy_image((256, 256)), "PNG") for _ in range(3)] + [
        encode(noisy_image((90, 70)), "PNG")
    ]
    singles = [
        client.post("/predict", files={"file": ("x.png", d, "image/png")}).json()["prob_fake"] for d in images
    ]
    detector = client.app.state.service.detector
    from tribunal_sdk.media import decode_image

    batch = detector.predict_batch([decode_image(d) for d in images])
    assert [p.prob_fake for p in batch] == pytest.approx(singles, abs=1e-5)


def test_explain_returns_a_grad_cam_png(client):
    data = encode(noisy_image((320, 240)), "PNG")
    r = client.post("/predict?explain=true", files={"file": ("x.png", data, "image/png")})
    assert r.status_code == 200, r.text
    png = Image.open(io.BytesIO(base64.b64decode(r.json()["heatmap_png"])))
    assert png.format == "PNG" and png.size == (320, 240)


class _ElsewhereDetector(AttributionCnnDetector):
    """The real detector (and its detector.yaml) reading its weights from a test folder."""

    folder = None

    def __init__(self, spec=None):
        super().__init__(spec or AttributionCnnDetector().spec)

    def weights_path(self, filename):
        return self.folder / filename


def _spec_with_sha(sha):
    spec = AttributionCnnDetector().spec.model_dump()
    spec["weights"][0]["sha256"] = sha
    return DetectorSpec.model_validate(spec)


def test_missing_weights_keep_the_service_alive_but_not_ready(tmp_path):
    _ElsewhereDetector.folder = tmp_path
    with TestClient(create_app(_ElsewhereDetector(), ServiceSettings())) as c:
        r = _wait(c)
        assert r.status_code == 503
        assert "make train-detector NAME=attribution_cnn" in r.json()["reason"]
        assert c.get("/health").status_code == 200
        assert (
            c.post(
                "/predict", files={"file": ("x.png", encode(noisy_image(), "PNG"), "image/png")}
            ).status_code
            == 503
        )


def test_weights_with_the_wrong_sha256_are_refused(tmp_path):
    require_trained_weights(AttributionCnnDetector)
    real = AttributionCnnDetector.directory() / "weights" / WEIGHTS_FILE
    (tmp_path / WEIGHTS_FILE).write_bytes(real.read_bytes())
    _ElsewhereDetector.folder = tmp_path
    with TestClient(create_app(_ElsewhereDetector(spec=_spec_with_sha("0" * 64)), ServiceSettings())) as c:
        r = _wait(c)
        assert r.status_code == 503 and "sha256" in r.json()["reason"]
