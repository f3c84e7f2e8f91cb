"""The three trained image detectors and the metadata detector as real processes behind the gateway.

Issue 4's 'done when': the stack serves all of them, ``/detect`` on an image fuses their scores and
returns an attribution with a predicted source, and ``explain=true`` brings each one's heatmap.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from detectors.attribution_cnn.detector import AttributionCnnDetector
from detectors.clip_universal.detector import ClipUniversalDetector
from detectors.fft_spectral.detector import FftSpectralDetector
from gateway.attribution import public_class
from scripts.local_stack import REPO_ROOT
from support.stack import detector_entry, running_stack
from support.textures import pink_noise
from support.weights import require_trained_weights
from tribunal_sdk.taxonomy import PUBLIC_CLASSES, is_simulated

pytestmark = pytest.mark.integration

TRAINED = (FftSpectralDetector, AttributionCnnDetector, ClipUniversalDetector)
IMAGE_DETECTORS = ("metadata_provenance", "fft_spectral", "attribution_cnn", "clip_universal")


def _jpeg() -> bytes:
    buf = io.BytesIO()
    pink_noise(384, 512, np.random.default_rng(5)).save(buf, "JPEG", quality=88)
    return buf.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for cls in TRAINED:
        require_trained_weights(cls)
    entries = [detector_entry(name, timeout_s=60.0) for name in IMAGE_DETECTORS]
    with running_stack(tmp_path_factory.mktemp("image-stack"), entries) as running:
        yield running


def _detect(stack, **data) -> dict:
    r = httpx.post(
        stack.service("gateway").url + "/detect",
        files={"file": ("photo.jpg", _jpeg(), "image/jpeg")},
        data=data,
        timeout=120.0,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_every_image_detector_answers_and_the_attribution_is_fused(stack):
    body = _detect(stack, ensemble_method="average")
    statuses = {d["name"]: d["status"] for d in body["detectors"]}
    assert statuses == {
        "metadata_provenance": "abstained",
        "fft_spectral": "ok",
        "attribution_cnn": "ok",
        "clip_universal": "ok",
    }
    assert body["degraded"] is False and 0.0 <= body["score_fake"] <= 1.0
    attribution = body["attribution"]
    assert attribution["predicted_source"] in attribution["probs"]
    assert sum(attribution["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    # The detector is trained on public families only, and the answer names public families only.
    classes = set(AttributionCnnDetector().spec.classes)
    assert "real" in classes and not any(is_simulated(c) for c in classes)
    assert {public_class(c) for c in classes} <= set(attribution["probs"]) | {"real"}
    assert set(attribution["probs"]) <= set(PUBLIC_CLASSES)
    assert "sim_" not in json.dumps(body)


def test_explain_returns_a_heatmap_from_each_detector_that_scored(stack):
    body = _detect(stack, ensemble_method="average", explain="true")
    heatmaps = {d["name"]: d.get("heatmap_png") for d in body["detectors"] if d["status"] == "ok"}
    assert set(heatmaps) == {"fft_spectral", "attribution_cnn", "clip_universal"}
    for name, png in heatmaps.items():
        assert png, f"{name} sent no heatmap"
        with Image.open(io.BytesIO(base64.b64decode(png))) as im:
            assert im.format == "PNG" and min(im.size) >= 64, name


def test_models_lists_the_backbone_each_detector_really_runs(stack):
    r = httpx.get(stack.service("gateway").url + "/models", timeout=30.0)
    assert r.status_code == 200, r.text
    by_name = {m["name"]: m for m in r.json()["detectors"]}
    assert set(IMAGE_DETECTORS) <= set(by_name)
    assert all(by_name[name]["ready"] for name in IMAGE_DETECTORS), by_name
    assert by_name["clip_universal"]["backbone"].startswith("efficientnet_lite")  # no CLIP weights here
    assert by_name["attribution_cnn"]["task"] == "attribution"
    assert (
        by_name["attribution_cnn"]["classes"][0] == "real" and len(by_name["attribution_cnn"]["classes"]) > 5
    )


def test_stacking_uses_the_committed_meta_learner(stack):
    deployed = json.loads((REPO_ROOT / "meta_learner" / "artifacts" / "image" / "deployed.json").read_text())
    body = _detect(stack, ensemble_method="stacking")
    assert body["method"] == f"stacking (image/{deployed['version']})"
    assert 0.0 <= body["score_fake"] <= 1.0 and body["verdict"] in {"fake", "real", "uncertain"}
    assert not [w for w in body["warnings"] if "version" in w]  # the detectors it was trained on


def test_stacking_counts_a_generator_record_the_stacker_never_saw_in_training(stack):
    # The corpus is metadata-stripped, so the stacker learnt no weight for metadata_provenance; the
    # committed artifact lists it as independent evidence. The same pixels with an AUTOMATIC1111
    # parameters chunk must score higher than without it.
    from support.metadata_samples import A1111_SDXL, png_with_text

    with_record = png_with_text(("tEXt", "parameters", A1111_SDXL))
    buf = io.BytesIO()
    Image.open(io.BytesIO(with_record)).save(buf, "PNG")  # Pillow drops the text chunk
    bodies = []
    for data in (buf.getvalue(), with_record):
        r = httpx.post(
            stack.service("gateway").url + "/detect",
            files={"file": ("upload.png", data, "image/png")},
            data={"ensemble_method": "stacking"},
            timeout=120.0,
        )
        assert r.status_code == 200, r.text
        bodies.append(r.json())
    plain, recorded = bodies
    metadata = {d["name"]: d for d in recorded["detectors"]}["metadata_provenance"]
    assert metadata["status"] == "ok" and metadata["prob_fake"] > 0.9
    assert recorded["method"].startswith("stacking (image/")
    assert recorded["score_fake"] > plain["score_fake"] and recorded["score_fake"] > 0.9
