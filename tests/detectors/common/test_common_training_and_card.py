"""detectors.common.training (seeding, pinning) and model_card (rendering)."""

import numpy as np
import pytest
import torch

from detectors.common.corpus_training import training_rows
from detectors.common.evaluation import evaluate
from detectors.common.model_card import ModelCard
from detectors.common.training import SpecEditError, pin_weight, seed_everything, set_spec_classes

SPEC = """name: x
# a comment that must survive
classes: [real, fake]
weights:
  - file: model.safetensors
    sha256: null
    origin: trained here
"""


def test_pin_weight_edits_only_the_sha_line(tmp_path):
    spec = tmp_path / "detector.yaml"
    spec.write_text(SPEC)
    pin_weight(spec, "model.safetensors", "a" * 64)
    assert spec.read_text() == SPEC.replace("sha256: null", "sha256: " + "a" * 64)
    pin_weight(spec, "model.safetensors", "b" * 64)  # re-pinning replaces the old digest
    assert "sha256: " + "b" * 64 in spec.read_text() and "a" * 64 not in spec.read_text()
    with pytest.raises(SpecEditError):
        pin_weight(spec, "other.bin", "c" * 64)
    with pytest.raises(ValueError):
        pin_weight(spec, "model.safetensors", "not-a-digest")


def test_set_spec_classes(tmp_path):
    spec = tmp_path / "detector.yaml"
    spec.write_text(SPEC)
    set_spec_classes(spec, ["real", "flux", "sim_nearest_conv"])
    assert "classes: [real, flux, sim_nearest_conv]\n" in spec.read_text()
    assert "# a comment that must survive" in spec.read_text()


def test_seed_everything_is_reproducible():
    seed_everything(3)
    a = (np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_model_card_renders_measured_figures(tmp_path):
    classes = ["real", "flux"]
    test = evaluate(
        "test",
        classes,
        [0, 1, 1],
        probs=np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
        sources=["c", "f", "f"],
    )
    card = ModelCard(
        title="toy card",
        summary="A toy.",
        command="make train-detector NAME=toy",
        data="three images",
        method="a method",
        test=test,
        robustness=[evaluate("test, jpeg_q65", classes, [0, 1, 1], probs=np.array([[0.5, 0.5]] * 3))],
        targets={"macro-F1": (test.attribution.macro_f1, 0.8)},
        weights=[("toy.safetensors", 2_000_000, "f" * 64)],
    )
    path = tmp_path / "MODEL_CARD.md"
    card.write(path)
    text = path.read_text()
    assert "# toy card" in text and "make train-detector NAME=toy" in text
    assert "| test | 3 | 1.000 | 0.667 |" in text  # n, ROC-AUC, accuracy of the test row
    assert "| real | 1 | 0 |" in text  # confusion row for real: 1 right, 0 called flux
    assert "**not met**" in text  # macro-F1 0.667 < 0.8
    assert "test, jpeg_q65" in text and "2.00 MB" in text


def test_augmented_training_rows_repeat_each_image_label():
    x, extra = np.arange(8.0).reshape(4, 2), -np.arange(8.0).reshape(4, 2)
    labels = np.array([0, 1, 2, 3])
    rows = np.array([1, 3])
    xs, ys = training_rows(x, extra, labels, rows)
    assert xs.tolist() == [[2, 3], [6, 7], [-2, -3], [-6, -7]] and ys.tolist() == [1, 3, 1, 3]
    xs, ys = training_rows(x, None, labels, rows)
    assert xs.tolist() == [[2, 3], [6, 7]] and ys.tolist() == [1, 3]
