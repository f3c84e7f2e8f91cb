"""Generator records in PNG text chunks: A1111, ComfyUI, InvokeAI, Fooocus, NovelAI."""

import json
import zlib

import pytest

from detectors.metadata_provenance.evidence import FAKE_PROB
from support.metadata_samples import (
    A1111_SDXL,
    COMFY_FLUX_PROMPT,
    COMFY_SDXL_WORKFLOW,
    insert_png_chunk,
    plain_png,
    png_chunk,
    png_with_text,
)
from tribunal_sdk.media import decode_image


def predict(detector, data: bytes):
    # Through decode_image, as the service does, so ImageInput.raw/format are the real thing.
    [prediction] = detector.predict_batch([decode_image(data)])
    return prediction


@pytest.mark.parametrize("chunk_type", ["tEXt", "zTXt", "iTXt"])
def test_a1111_parameters_name_sdxl(detector, chunk_type):
    prediction = predict(detector, png_with_text((chunk_type, "parameters", A1111_SDXL)))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["strong"])
    assert max(prediction.class_probs, key=prediction.class_probs.get) == "sdxl"
    assert prediction.class_probs["real"] == pytest.approx(1 - FAKE_PROB["strong"])
    [item] = prediction.details["evidence"]
    assert item == {
        "kind": "png_text",
        "key": "parameters",
        "direction": "fake",
        "strength": "strong",
        "generator": "sdxl",
        "tool": "automatic1111",
        "value": "Model: sd_xl_base_1.0",
    }


def test_forge_infotext_with_unknown_model_is_other_ai(detector):
    text = "portrait\nSteps: 20, Sampler: Euler a, Seed: 5, Model: mysteryMerge_v3, Version: f2.0.1v1.10.1"
    prediction = predict(detector, png_with_text(("tEXt", "parameters", text)))
    assert prediction.class_probs == {"real": pytest.approx(0.01), "other_ai": pytest.approx(0.99)}
    assert prediction.details["evidence"][0]["tool"] == "forge"


def test_comfyui_prompt_names_flux(detector):
    prediction = predict(detector, png_with_text(("tEXt", "prompt", json.dumps(COMFY_FLUX_PROMPT))))
    assert prediction.prob_fake == pytest.approx(0.99)
    assert set(prediction.class_probs) == {"real", "flux"}
    [item] = prediction.details["evidence"]
    assert (item["tool"], item["generator"], item["value"]) == ("comfyui", "flux", "flux1-dev.safetensors")


def test_comfyui_workflow_after_the_pixels(detector):
    # ComfyUI graphs are big; some writers put them after IDAT, where Pillow's header read misses them.
    chunk = png_chunk(b"zTXt", b"workflow\x00\x00" + zlib.compress(json.dumps(COMFY_SDXL_WORKFLOW).encode()))
    prediction = predict(detector, insert_png_chunk(plain_png(), chunk))
    assert prediction.details["generators"] == ["sdxl"]
    # The upscaler is not a diffusion model and must not be attributed.
    assert [e["value"] for e in prediction.details["evidence"]] == ["sd_xl_base_1.0.safetensors"]


def test_comfyui_graph_with_two_model_families_splits_attribution(detector):
    graph = dict(COMFY_FLUX_PROMPT)
    graph["30"] = {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "SDXL/realvisxlV40.safetensors"},
    }
    prediction = predict(detector, png_with_text(("tEXt", "prompt", json.dumps(graph))))
    assert prediction.class_probs["flux"] == pytest.approx(0.495)
    assert prediction.class_probs["sdxl"] == pytest.approx(0.495)


def test_invokeai_metadata_uses_base_model(detector):
    record = {"model": {"name": "juggernaut-reborn", "base": "sd-1"}, "steps": 30, "seed": 7}
    prediction = predict(detector, png_with_text(("iTXt", "invokeai_metadata", json.dumps(record))))
    assert prediction.details["generators"] == ["sd"]
    assert prediction.details["evidence"][0]["tool"] == "invokeai"


def test_fooocus_scheme_and_json_parameters(detector):
    params = {
        "prompt": "a cat",
        "base_model": "juggernautXL_v8Rundiffusion.safetensors",
        "steps": 30,
        "version": "Fooocus v2.5.5",
    }
    prediction = predict(
        detector,
        png_with_text(("tEXt", "parameters", json.dumps(params)), ("tEXt", "fooocus_scheme", "fooocus")),
    )
    assert prediction.prob_fake == pytest.approx(0.99)
    assert prediction.details["generators"] == ["sdxl"]
    assert {e["tool"] for e in prediction.details["evidence"]} == {"fooocus"}


def test_novelai_software_and_source_keys(detector):
    comment = {"prompt": "1girl", "steps": 28, "sampler": "k_euler", "scale": 5, "uc": "lowres"}
    prediction = predict(
        detector,
        png_with_text(
            ("tEXt", "Software", "NovelAI"),
            ("tEXt", "Source", "Stable Diffusion XL C1E1DE52"),
            ("tEXt", "Comment", json.dumps(comment)),
        ),
    )
    # The Comment settings are the strong evidence; the Source key is what names the model.
    assert prediction.prob_fake == pytest.approx(0.99)
    assert prediction.details["generators"] == ["sdxl"]


def test_midjourney_job_id_in_description(detector):
    text = "a castle in the clouds --ar 16:9 --v 6.1 Job ID: 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    prediction = predict(detector, png_with_text(("iTXt", "Description", text)))
    assert prediction.prob_fake == pytest.approx(FAKE_PROB["moderate"])
    assert prediction.details["generators"] == ["midjourney"]


def test_bad_json_in_comfy_chunk_is_a_warning_not_an_error(detector):
    prediction = predict(detector, png_with_text(("tEXt", "workflow", '{"nodes": [')))
    assert prediction.abstained and prediction.reason == "no_evidence"
    assert any("invalid JSON" in w for w in prediction.warnings)


def test_bad_json_does_not_hide_other_evidence(detector):
    prediction = predict(
        detector, png_with_text(("tEXt", "prompt", "{not json"), ("tEXt", "parameters", A1111_SDXL))
    )
    assert prediction.details["generators"] == ["sdxl"]
    assert any("'prompt' holds invalid JSON" in w for w in prediction.warnings)


def test_corrupt_compressed_chunk_is_a_warning(detector):
    data = insert_png_chunk(plain_png(), png_chunk(b"zTXt", b"parameters\x00\x00not zlib at all"))
    prediction = predict(detector, data)
    assert prediction.abstained
    assert any("unreadable zTXt" in w for w in prediction.warnings)


def test_infotext_lookalike_is_not_evidence(detector):
    # "Steps:" without any sampler settings: could be a recipe, so it is reported but not scored.
    prediction = predict(detector, png_with_text(("tEXt", "parameters", "Steps: 3, Oven: 200C")))
    assert prediction.abstained
    assert prediction.details["evidence"][0]["direction"] == "neutral"


def test_ordinary_software_key_is_reported_not_scored(detector):
    prediction = predict(detector, png_with_text(("tEXt", "Software", "GIMP 2.10")))
    assert prediction.abstained and prediction.prob_fake is None
    assert prediction.details["evidence"] == [
        {"kind": "png_text", "key": "Software", "direction": "neutral", "value": "GIMP 2.10"}
    ]
