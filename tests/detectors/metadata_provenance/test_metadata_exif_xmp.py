"""EXIF and XMP: software naming a generator, camera make/model, IPTC digital source type."""

import pytest

from detectors.metadata_provenance.evidence import FAKE_PROB, REAL_PROB
from support.metadata_samples import (
    A1111_SDXL,
    exif_bytes,
    jpeg,
    png_with_text,
    user_comment_unicode,
    webp,
    xmp_packet,
)
from tribunal_sdk.media import decode_image


def predict(detector, data: bytes):
    [prediction] = detector.predict_batch([decode_image(data)])
    return prediction


@pytest.mark.parametrize(
    ("software", "generator"),
    [
        ("DALL-E 3", "gpt_image"),
        ("Midjourney v6", "midjourney"),
        ("Adobe Firefly", "firefly"),
        ("Made with Google AI", "gemini"),
        ("ComfyUI", "other_ai"),
    ],
)
def test_jpeg_exif_software_names_generator(detector, software, generator):
    prediction = predict(detector, jpeg(exif=exif_bytes(Software=software)))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["moderate"])
    assert prediction.details["generators"] == [generator]
    assert prediction.class_probs == {"real": pytest.approx(0.03), generator: pytest.approx(0.97)}
    assert prediction.details["evidence"][0]["key"] == "Software"


@pytest.mark.parametrize(
    "software", ["Adobe Photoshop 25.0 (Macintosh)", "Luminar Neo", "Imagenomic Portraiture"]
)
def test_photo_editors_are_not_generators(detector, software):
    prediction = predict(detector, jpeg(exif=exif_bytes(Software=software)))
    assert prediction.abstained and prediction.reason == "no_evidence"


def test_camera_make_model_only_is_weak_evidence_for_real(detector):
    prediction = predict(detector, jpeg(exif=exif_bytes(Make="Canon", Model="Canon EOS R5", FNumber=2.8)))
    assert prediction.prob_fake == pytest.approx(REAL_PROB["weak"])
    assert 0.2 < prediction.prob_fake < 0.5  # modest: EXIF is trivially forged
    assert prediction.class_probs is None  # nothing names a generator
    [item] = prediction.details["evidence"]
    assert item["direction"] == "real" and item["strength"] == "weak"
    assert prediction.details["camera"] == {
        "make": "Canon",
        "model": "Canon EOS R5",
        "capture_settings": ["FNumber"],
    }


def test_a1111_record_in_jpeg_user_comment(detector):
    data = jpeg(exif=exif_bytes(UserComment=user_comment_unicode(A1111_SDXL)))
    prediction = predict(detector, data)
    assert prediction.prob_fake == pytest.approx(0.99)
    assert prediction.details["generators"] == ["sdxl"]
    assert prediction.details["evidence"][0]["key"] == "UserComment"


def test_webp_carries_exif_and_xmp(detector):
    data = webp(exif=exif_bytes(Software="Midjourney"), xmp=xmp_packet("trainedAlgorithmicMedia"))
    prediction = predict(detector, data)
    assert prediction.details["format"] == "webp"
    assert {(e["kind"], e["key"]) for e in prediction.details["evidence"]} == {
        ("exif", "Software"),
        ("xmp", "DigitalSourceType"),
    }
    assert prediction.details["generators"] == ["midjourney"]


@pytest.mark.parametrize("as_element", [False, True])
def test_jpeg_xmp_trained_algorithmic_media(detector, as_element):
    prediction = predict(detector, jpeg(xmp=xmp_packet("trainedAlgorithmicMedia", as_element=as_element)))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["moderate"])
    assert prediction.class_probs["other_ai"] == pytest.approx(0.97)
    assert prediction.details["evidence"][0]["value"] == "trainedalgorithmicmedia"


def test_png_xmp_trained_algorithmic_media_with_creator_tool(detector):
    packet = xmp_packet("trainedAlgorithmicMedia", creator_tool="Adobe Firefly").decode()
    prediction = predict(detector, png_with_text(("iTXt", "XML:com.adobe.xmp", packet)))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["moderate"])
    assert prediction.details["generators"] == ["firefly"]


def test_xmp_composite_is_weaker_than_fully_generated(detector):
    composite = predict(detector, jpeg(xmp=xmp_packet("compositeWithTrainedAlgorithmicMedia")))
    generated = predict(detector, jpeg(xmp=xmp_packet("trainedAlgorithmicMedia")))
    assert 0.5 < composite.prob_fake < generated.prob_fake


def test_xmp_digital_capture_is_evidence_for_real(detector):
    prediction = predict(detector, jpeg(xmp=xmp_packet("digitalCapture")))
    assert prediction.prob_fake == pytest.approx(REAL_PROB["weak"])
    assert prediction.details["evidence"][0]["direction"] == "real"


def test_xmp_human_digital_creation_is_no_evidence(detector):
    prediction = predict(detector, jpeg(xmp=xmp_packet("digitalCreation")))
    assert prediction.abstained
    assert prediction.details["evidence"][0] == {
        "kind": "xmp",
        "key": "DigitalSourceType",
        "direction": "neutral",
        "value": "digitalcreation",
    }


def test_camera_exif_on_a_generated_image_is_a_conflict(detector):
    data = jpeg(
        exif=exif_bytes(Make="Apple", Model="iPhone 15 Pro"), xmp=xmp_packet("trainedAlgorithmicMedia")
    )
    prediction = predict(detector, data)
    # Fake wins (camera EXIF is cheap to copy) but the camera pulls the score down a little.
    assert 0.9 < prediction.prob_fake < FAKE_PROB["moderate"]
    assert any(w.startswith("conflicting metadata") for w in prediction.warnings)


def test_malformed_xmp_is_a_warning(detector):
    prediction = predict(detector, jpeg(xmp=b"<x:xmpmeta><rdf:RDF><unclosed>"))
    assert prediction.abstained and prediction.reason == "no_evidence"
    assert any(w.startswith("xmp: malformed packet") for w in prediction.warnings)


def test_xmp_entity_expansion_is_refused(detector):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )
    prediction = predict(detector, jpeg(xmp=bomb))
    assert prediction.abstained
    assert any("EntitiesForbidden" in w or "DTDForbidden" in w for w in prediction.warnings)


# The SDK's decoder (EXIF orientation) sees the same garbage and says so through Pillow's warnings.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_garbage_exif_is_a_warning(detector):
    prediction = predict(detector, jpeg(exif=b"Exif\x00\x00MM\x00*garbage that is not an IFD at all"))
    assert prediction.abstained
    assert any(w.startswith("exif:") for w in prediction.warnings)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_garbage_exif_does_not_hide_xmp(detector):
    prediction = predict(
        detector, jpeg(exif=b"Exif\x00\x00II*\x00\xff\xff\xff\xff", xmp=xmp_packet("trainedAlgorithmicMedia"))
    )
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["moderate"])


def test_jpeg_comment_with_infotext(detector):
    prediction = predict(detector, jpeg(comment=A1111_SDXL.encode()))
    assert prediction.details["generators"] == ["sdxl"]
    assert prediction.details["evidence"][0]["kind"] == "jpeg_comment"


def test_xmp_iptc_ai_system_used(detector):
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        b"<Iptc4xmpExt:AISystemUsed>Ideogram 3.0</Iptc4xmpExt:AISystemUsed>"
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    prediction = predict(detector, jpeg(xmp=packet))
    assert prediction.details["generators"] == ["ideogram"]
    assert prediction.details["evidence"][0]["key"] == "AISystemUsed"
