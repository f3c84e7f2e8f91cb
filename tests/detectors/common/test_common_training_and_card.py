"""detectors.common.training (seeding, pinning), corpus_training (row weights) and model_card (the card writer)."""

import numpy as np
import pytest
import torch

from detectors.common.corpus_training import CorpusSet, oof_report, subset_balance, training_rows
from detectors.common.model_card import CorpusModelCard, Target
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


def _toy_corpus(tmp_path) -> CorpusSet:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label\n")  # the card shows its path and sha256 only
    n = 24
    y = np.array([0, 1] * (n // 2))
    return CorpusSet(
        manifest=manifest,
        rows=list(range(n)),  # only counted
        y=y,
        folds=np.arange(n) % 3,
        sources=np.array([f"s{i % 6}" for i in range(n)]),
        families=np.where(y == 1, "flux", "real"),
        class_names=np.where(y == 1, "flux", "real"),
        subsets=np.array(["general"] * n),
    )


def test_corpus_model_card_leads_with_leave_source_out_and_judges_targets(tmp_path):
    corpus = _toy_corpus(tmp_path)
    prob = np.where(corpus.y == 1, 0.7, 0.4)
    prob[:4] = [0.9, 0.2, 0.6, 0.1]  # two real images called AI: ROC-AUC below 1
    report = oof_report(corpus, prob)
    card = CorpusModelCard(
        detector="toy_detector",
        summary="A toy.",
        corpus=corpus,
        report=report,
        results=[("Family hint", "hint table")],
        targets=[Target("top-1 among AI images", 0.3, 0.5)],
        method="a method",
        design="a design",
        checks=["**Format-blind.** gap 0.01"],
        weights=[("toy.safetensors", 2_000_000, "f" * 64)],
        timings={"features": 3.0, "total": 12.0},
        weak=["a weak point"],
        previous="old test ROC-AUC 0.999 (in-distribution)",
    )
    text = card.write(tmp_path / "weights").read_text()
    assert text.startswith("# toy_detector: model card")
    order = ["Leave-source-out", "### Targets (issue 12)", "### Family hint", "## Data", "## Method"]
    order += ["## Checks", "## How to reproduce", "## Weights", "## What is weak", "## Old in-distribution"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    assert f"| 24 | {report.roc_auc:.3f} |" in text and "| 0 | 4 | 4 | 2 |" in text  # headline, a fold
    assert (
        "make train-detector NAME=toy_detector" in text and "python -m detectors.toy_detector.train" in text
    )
    assert "| top-1 among AI images | 0.300 | >= 0.500 | **not met** |" in text
    # 12 flux images: shown in the family table, marked (few), and not judged against a target
    assert "| flux (few) | 12 |" in text and "ROC-AUC flux vs all real" not in text
    assert "Targets not met out-of-fold: top-1 among AI images 0.300" in text and "- a weak point" in text
    assert "2.00 MB" in text and "f" * 64 in text and "(this run read them from that cache)" in text


def test_augmented_training_rows_repeat_each_image_label_and_subset():
    x, extra = np.arange(8.0).reshape(4, 2), -np.arange(8.0).reshape(4, 2)
    labels = np.array([0, 1, 2, 3])
    subsets = np.array(["faces", "general", "faces", "general"])
    rows = np.array([1, 3])
    xs, ys, ss = training_rows(x, extra, labels, rows, subsets)
    assert xs.tolist() == [[2, 3], [6, 7], [-2, -3], [-6, -7]] and ys.tolist() == [1, 3, 1, 3]
    assert ss.tolist() == ["general"] * 4
    xs, ys, ss = training_rows(x, None, labels, rows)
    assert xs.tolist() == [[2, 3], [6, 7]] and ys.tolist() == [1, 3] and ss is None


def test_subset_balance_weighs_real_and_ai_alike_within_each_subset():
    # faces: 1 real, 3 fake; general: 2 real, 2 fake (already balanced)
    subsets = np.array(["faces"] * 4 + ["general"] * 4)
    fake = np.array([0, 1, 1, 1, 0, 0, 1, 1])
    w = subset_balance(np.ones(8), fake, subsets)
    faces = subsets == "faces"
    assert w[faces & (fake == 0)].sum() == pytest.approx(w[faces & (fake == 1)].sum())
    assert w[faces].sum() == pytest.approx(4.0)  # the subset keeps its total
    assert w[~faces].tolist() == [1.0] * 4
    assert w[0] == pytest.approx(2.0) and w[1] == pytest.approx(2 / 3)


def test_subset_balance_leaves_one_label_subsets_and_no_subsets_alone():
    weights = np.array([1.0, 2.0, 3.0])
    assert subset_balance(weights, np.array([1, 1, 0]), np.array(["faces", "faces", "general"])).tolist() == [
        1.0,
        2.0,
        3.0,
    ]
    assert subset_balance(weights, np.array([1, 0, 0]), None).tolist() == [1.0, 2.0, 3.0]
