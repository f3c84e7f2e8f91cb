"""Which mode runs: detector.yaml options, overridden by TRIBUNAL_CLIP_* variables."""

from pathlib import Path

import pytest

from detectors.clip_universal.detector import ClipUniversalDetector
from detectors.clip_universal.options import read_options
from detectors.clip_universal.published_weights import OPENAI_VIT_L14_SHA256, UFD_FC_SHA256

SPEC = ClipUniversalDetector.directory() / "detector.yaml"


def test_committed_options_run_the_default_and_pin_the_published_files():
    options = read_options(SPEC, environ={})
    assert not options.uses_clip
    assert options.clip.model == "ViT-L-14-quickgelu"
    assert options.clip.weights_sha256 == OPENAI_VIT_L14_SHA256
    assert options.clip.fc_sha256 == UFD_FC_SHA256
    assert options.default.head in {w.file for w in ClipUniversalDetector().spec.weights}


def test_environment_switches_to_the_published_model():
    env = {
        "TRIBUNAL_CLIP_WEIGHTS": "/models/ViT-L-14.pt",
        "TRIBUNAL_CLIP_FC_WEIGHTS": "/models/fc_weights.pth",
        "TRIBUNAL_CLIP_WEIGHTS_SHA256": "a" * 64,
    }
    options = read_options(SPEC, environ=env)
    assert options.uses_clip
    assert options.clip.weights == Path("/models/ViT-L-14.pt")
    assert options.clip.fc_weights == Path("/models/fc_weights.pth")
    assert options.clip.weights_sha256 == "a" * 64 and options.clip.fc_sha256 == UFD_FC_SHA256


def test_relative_paths_in_the_file_are_taken_from_the_detector_folder(tmp_path):
    spec = tmp_path / "detector.yaml"
    spec.write_text("options:\n  clip:\n    weights: models/ViT-L-14.pt\n")
    options = read_options(spec, environ={})
    assert options.clip.weights == tmp_path / "models" / "ViT-L-14.pt"


def test_a_malformed_pin_is_a_clear_error():
    with pytest.raises(ValueError, match="weights_sha256"):
        read_options(SPEC, environ={"TRIBUNAL_CLIP_WEIGHTS_SHA256": "not-a-digest"})
