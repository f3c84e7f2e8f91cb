"""The detector behind the real SDK service: multipart and base64 /predict, /info, /ready."""

import base64
import time

import pytest
from fastapi.testclient import TestClient

from detectors.metadata_provenance import MetadataProvenanceDetector
from support.metadata_samples import (
    A1111_SDXL,
    c2pa_manifest,
    c2pa_signed,
    plain_jpeg,
    plain_png,
    png_with_text,
)
from tribunal_sdk import create_app
from tribunal_sdk.settings import ServiceSettings


@pytest.fixture(scope="module")
def client():
    app = create_app(MetadataProvenanceDetector(), ServiceSettings(load_mode="eager"))
    with TestClient(app) as c:
        deadline = time.monotonic() + 10
        while c.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, c.get("/ready").json()
            time.sleep(0.01)
        yield c


def post(client, data: bytes, name: str = "upload.bin"):
    return client.post("/predict", files={"file": (name, data, "application/octet-stream")})


def test_info_describes_an_attribution_detector(client):
    info = client.get("/info").json()
    assert info["name"] == "metadata_provenance"
    assert info["task"] == "attribution"
    assert info["classes"][0] == "real" and "sdxl" in info["classes"]
    assert info["weights"] == []
    assert info["c2pa_sdk_version"]


def test_multipart_png_with_a1111_parameters(client):
    response = post(client, png_with_text(("tEXt", "parameters", A1111_SDXL)))
    assert response.status_code == 200
    body = response.json()
    assert body["detector"] == "metadata_provenance"
    assert body["prob_fake"] == pytest.approx(0.99)
    assert body["abstained"] is False
    assert max(body["class_probs"], key=body["class_probs"].get) == "sdxl"
    assert sum(body["class_probs"].values()) == pytest.approx(1.0)
    assert body["details"]["evidence"][0]["generator"] == "sdxl"


def test_base64_json_signed_c2pa(client, signing_chain):
    data = c2pa_signed(
        plain_jpeg(), "image/jpeg", c2pa_manifest("trainedAlgorithmicMedia", "Adobe Firefly"), signing_chain
    )
    response = client.post("/predict", json={"media_type": "image", "data": base64.b64encode(data).decode()})
    assert response.status_code == 200
    body = response.json()
    assert body["details"]["c2pa"]["validation_state"] == "signed"
    assert body["class_probs"]["firefly"] == pytest.approx(0.99)


def test_no_metadata_abstains_over_http(client):
    body = post(client, plain_png()).json()
    assert body["abstained"] is True
    assert body["reason"] == "no_evidence"
    assert body["prob_fake"] is None and body["class_probs"] is None


def test_bad_metadata_is_a_warning_and_the_next_request_is_served(client):
    body = post(client, png_with_text(("tEXt", "prompt", "{oops"))).json()
    assert body["abstained"] is True
    assert any("invalid JSON" in w for w in body["warnings"])
    assert post(client, png_with_text(("tEXt", "parameters", A1111_SDXL))).status_code == 200
