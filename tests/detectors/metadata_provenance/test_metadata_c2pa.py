"""C2PA manifests signed in the test with c2pa-python and a throwaway ES256 certificate chain."""

import pytest

from detectors.metadata_provenance import MetadataProvenanceDetector
from detectors.metadata_provenance.detector import MetadataSettings
from detectors.metadata_provenance.evidence import FAKE_PROB, REAL_PROB
from support.metadata_samples import (
    c2pa_edit_of,
    c2pa_manifest,
    c2pa_signed,
    plain_jpeg,
    plain_png,
    png_with_text,
)
from tribunal_sdk.media import decode_image


def predict(detector, data: bytes):
    [prediction] = detector.predict_batch([decode_image(data)])
    return prediction


@pytest.fixture(scope="module")
def trusting_detector(tmp_path_factory, signing_chain):
    """A detector whose trust list holds the test root, so the test signer is 'trusted'."""
    anchors = tmp_path_factory.mktemp("c2pa") / "anchors.pem"
    anchors.write_bytes(signing_chain.root_pem)
    loaded = MetadataProvenanceDetector(settings=MetadataSettings(c2pa_trust_anchors=anchors))
    loaded.load()
    return loaded


@pytest.mark.parametrize(("image", "mime"), [(plain_jpeg, "image/jpeg"), (plain_png, "image/png")])
def test_signed_ai_manifest_names_generator(detector, signing_chain, image, mime):
    manifest = c2pa_manifest("trainedAlgorithmicMedia", software_agent="DALL-E 3", claim_generator="ChatGPT")
    prediction = predict(detector, c2pa_signed(image(), mime, manifest, signing_chain))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["strong"])
    assert prediction.details["generators"] == ["gpt_image"]
    c2pa = prediction.details["c2pa"]
    # Correctly signed, but by a certificate no trust list knows.
    assert c2pa["validation_state"] == "signed"
    assert c2pa["failures"] == []
    assert c2pa["signer"]["issuer"] == "Tribunal tests"
    assert "trainedalgorithmicmedia" in c2pa["digital_source_types"]
    [item] = [e for e in prediction.details["evidence"] if e["kind"] == "c2pa"]
    assert item["direction"] == "fake" and item["strength"] == "strong" and item["tool"] == "DALL-E 3"


def test_ai_manifest_without_known_generator_is_other_ai(detector, signing_chain):
    manifest = c2pa_manifest("trainedAlgorithmicMedia", claim_generator="Acme Imaging Pipeline")
    prediction = predict(detector, c2pa_signed(plain_jpeg(), "image/jpeg", manifest, signing_chain))
    assert prediction.details["generators"] == ["other_ai"]


def test_composite_ai_manifest(detector, signing_chain):
    manifest = c2pa_manifest("compositeWithTrainedAlgorithmicMedia", software_agent="Adobe Firefly")
    prediction = predict(detector, c2pa_signed(plain_jpeg(), "image/jpeg", manifest, signing_chain))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["moderate"])
    assert prediction.details["generators"] == ["firefly"]


def test_edit_of_a_generated_image_is_still_generated(detector, signing_chain):
    generated = c2pa_signed(
        plain_jpeg(), "image/jpeg", c2pa_manifest("trainedAlgorithmicMedia", "Adobe Firefly"), signing_chain
    )
    prediction = predict(detector, c2pa_edit_of(generated, signing_chain))
    c2pa = prediction.details["c2pa"]
    assert c2pa["manifests"] == 2 and c2pa["claim_generator"] == "Photo Editor"
    [item] = prediction.details["evidence"]
    assert item["key"] == "ingredient.digitalSourceType"
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["strong"])
    assert prediction.details["generators"] == ["firefly"]


def test_capture_manifest_signed_by_unknown_signer_is_moderate_real(detector, signing_chain):
    manifest = c2pa_manifest("digitalCapture", claim_generator="Leica M11-P")
    prediction = predict(detector, c2pa_signed(plain_jpeg(), "image/jpeg", manifest, signing_chain))
    assert prediction.prob_fake == pytest.approx(REAL_PROB["moderate"])
    assert prediction.class_probs is None
    assert prediction.details["c2pa"]["validation_state"] == "signed"


def test_capture_manifest_from_trusted_signer_is_strong_real(trusting_detector, signing_chain):
    manifest = c2pa_manifest("digitalCapture", claim_generator="Leica M11-P")
    prediction = predict(trusting_detector, c2pa_signed(plain_jpeg(), "image/jpeg", manifest, signing_chain))
    assert prediction.details["c2pa"]["validation_state"] == "trusted"
    assert prediction.prob_fake == pytest.approx(REAL_PROB["strong"])
    assert trusting_detector.runtime_info()["c2pa_trust_anchors"].endswith("anchors.pem")


def test_tampered_pixels_make_the_manifest_invalid(detector, signing_chain):
    manifest = c2pa_manifest("digitalCapture", claim_generator="Leica M11-P")
    signed = bytearray(c2pa_signed(plain_jpeg(), "image/jpeg", manifest, signing_chain))
    signed[-40] ^= 0x5A  # inside the entropy-coded image data, covered by the manifest's hash
    prediction = predict(detector, bytes(signed))
    c2pa = prediction.details["c2pa"]
    assert c2pa["validation_state"] == "invalid"
    assert "assertion.dataHash.mismatch" in c2pa["failures"]
    assert prediction.prob_fake == pytest.approx(REAL_PROB["weak"])  # still a capture claim, but weak
    assert any(w.startswith("c2pa manifest fails validation") for w in prediction.warnings)


def test_c2pa_and_png_generator_record_agree(detector, signing_chain):
    manifest = c2pa_manifest("trainedAlgorithmicMedia", software_agent="FLUX.1 [dev]")
    png = png_with_text(("tEXt", "Software", "ComfyUI"))
    prediction = predict(detector, c2pa_signed(png, "image/png", manifest, signing_chain))
    assert prediction.details["generators"] == ["flux"]
    assert {e["kind"] for e in prediction.details["evidence"]} == {"c2pa", "png_text"}
    assert not prediction.warnings


def test_no_manifest_means_no_c2pa_details(detector):
    prediction = predict(detector, plain_jpeg())
    assert "c2pa" not in prediction.details


def test_unusable_trust_anchor_file_makes_load_fail(tmp_path):
    from tribunal_sdk import WeightsUnavailable

    bad = tmp_path / "anchors.pem"
    bad.write_text("not a certificate")
    with pytest.raises(WeightsUnavailable, match="c2pa could not be configured"):
        MetadataProvenanceDetector(settings=MetadataSettings(c2pa_trust_anchors=bad)).load()
    with pytest.raises(WeightsUnavailable, match="cannot be read"):
        MetadataProvenanceDetector(
            settings=MetadataSettings(c2pa_trust_anchors=tmp_path / "missing.pem")
        ).load()
