"""How evidence becomes a Prediction, and the detector's contract around it."""

import sys
from pathlib import Path

import pytest
import yaml

from detectors.metadata_provenance import MetadataProvenanceDetector
from detectors.metadata_provenance.evidence import FAKE_PROB, REAL_PROB, Evidence, Findings, score
from detectors.metadata_provenance.generator_names import ai_generator_in, generator_from_checkpoint
from support.metadata_samples import plain_jpeg, plain_png
from tribunal_sdk import WeightsUnavailable
from tribunal_sdk.media import decode_image
from tribunal_sdk.taxonomy import GENERATORS, REAL


def fake(strength, generator="other_ai", kind="png_text"):
    return Evidence(kind, "k", "fake", strength, generator=generator)


def real(strength, kind="exif"):
    return Evidence(kind, "k", "real", strength)


@pytest.mark.parametrize("data", [plain_png(), plain_jpeg()])
def test_file_without_metadata_abstains(detector, data):
    [prediction] = detector.predict_batch([decode_image(data)])
    assert prediction.abstained is True
    assert prediction.reason == "no_evidence"
    assert prediction.prob_fake is None and prediction.class_probs is None
    assert prediction.details["evidence"] == []


def test_batch_returns_one_prediction_per_input_in_order(detector):
    from support.metadata_samples import A1111_SDXL, png_with_text

    items = [decode_image(plain_png()), decode_image(png_with_text(("tEXt", "parameters", A1111_SDXL)))]
    first, second = detector.predict_batch(items)
    assert first.abstained and not second.abstained


def test_neutral_findings_alone_abstain_but_are_reported():
    prediction = score(Findings(evidence=[Evidence("exif", "Software", "neutral", value="GIMP")]))
    assert prediction.abstained and prediction.details["evidence"][0]["value"] == "GIMP"


@pytest.mark.parametrize("strength", ["strong", "moderate", "weak"])
def test_single_fake_item_uses_its_table_probability(strength):
    prediction = score(Findings(evidence=[fake(strength, "sdxl")]))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB[strength])
    assert prediction.class_probs == {
        "real": pytest.approx(1 - FAKE_PROB[strength]),
        "sdxl": pytest.approx(FAKE_PROB[strength]),
    }


def test_only_the_strongest_item_per_direction_counts():
    # The same fact written twice (prompt + workflow) must not compound into more certainty.
    prediction = score(Findings(evidence=[fake("strong", "flux"), fake("strong", "flux"), fake("weak")]))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["strong"])
    prediction = score(Findings(evidence=[real("weak"), real("weak"), real("moderate")]))
    assert prediction.prob_fake == pytest.approx(REAL_PROB["moderate"])


def test_conflict_combines_log_odds_and_warns():
    prediction = score(Findings(evidence=[fake("strong", "sdxl"), real("strong", kind="c2pa")]))
    # logit(0.99) + logit(0.05) = 4.595 - 2.944 = 1.651 -> 0.839
    assert prediction.prob_fake == pytest.approx(0.8390, abs=1e-3)
    assert prediction.class_probs["sdxl"] == pytest.approx(prediction.prob_fake)
    assert len(prediction.warnings) == 1 and "conflicting metadata" in prediction.warnings[0]


def test_scores_stay_inside_the_floor_and_ceiling():
    for items in ([fake("strong")], [real("strong")], [fake("strong"), fake("strong")]):
        assert 0.01 <= score(Findings(evidence=items)).prob_fake <= 0.99


def test_attribution_prefers_the_most_reliable_evidence_that_names_a_generator():
    evidence = [fake("strong", "other_ai"), fake("moderate", "midjourney"), fake("weak", "flux")]
    assert score(Findings(evidence=evidence)).details["generators"] == ["midjourney"]


def test_neutral_evidence_rejects_a_strength():
    with pytest.raises(ValueError):
        Evidence("exif", "Software", "neutral", "weak")


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("sd_xl_base_1.0.safetensors", "sdxl"),
        ("realvisxlV40_v40Bakedvae.safetensors", "sdxl"),
        ("ponyDiffusionV6XL.safetensors", "sdxl"),
        ("v1-5-pruned-emaonly.safetensors", "sd"),
        ("sd3.5_large.safetensors", "sd35"),
        ("flux1-schnell-fp8.safetensors", "flux"),
        ("hidream_i1_full_fp16.safetensors", "hidream"),
        ("mysteryMerge_v3.safetensors", "other_ai"),
    ],
)
def test_checkpoint_names_map_to_families(name, family):
    assert generator_from_checkpoint(name) == family


@pytest.mark.parametrize(
    ("software", "expected"),
    [
        ("ChatGPT", "gpt_image"),
        ("NovelAI", "other_ai"),
        ("Fooocus 2.5", "sdxl"),
        ("Adobe Photoshop Lightroom Classic 13.0", None),
        ("Luminar Neo", None),
        ("Canon EOS R5", None),
        ("Google Pixel 8 Pro", None),
    ],
)
def test_software_names(software, expected):
    assert ai_generator_in(software) == expected


def test_yaml_classes_are_real_plus_the_taxonomy():
    spec = yaml.safe_load((Path(MetadataProvenanceDetector.directory()) / "detector.yaml").read_text())
    assert spec["classes"] == [REAL, *GENERATORS]
    assert spec["task"] == "attribution" and spec["media_types"] == ["image"]


def test_load_fails_clearly_without_c2pa(monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # makes `import c2pa` raise ImportError
    with pytest.raises(WeightsUnavailable, match="pip install c2pa-python"):
        MetadataProvenanceDetector().load()
