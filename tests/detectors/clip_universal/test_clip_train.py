"""train.py end to end on a tiny imported corpus: a pinned fc-style head, out-of-fold answers, a card."""

import json
import shutil

import pytest
import torch
import yaml

from detectors.clip_universal import train
from detectors.clip_universal.detector import ClipUniversalDetector
from detectors.clip_universal.published_weights import load_linear_head
from support.tiny_corpus import make_tiny_corpus
from tribunal_sdk.media import file_sha256


@pytest.mark.slow
def test_training_writes_a_pinned_head_oof_answers_and_a_card(tmp_path):
    manifest = make_tiny_corpus(tmp_path, per_source=3)
    spec = tmp_path / "detector.yaml"
    shutil.copy(ClipUniversalDetector.directory() / "detector.yaml", spec)
    out = tmp_path / "weights"

    train.main(
        [
            *["--corpus", str(manifest), "--out", str(out), "--spec", str(spec)],
            *["--backbone-sets", "lite0", "--augment", "zoom"],
        ]
    )

    head = out / "probe_efficientnet_lite0.pth"
    state = torch.load(head, map_location="cpu", weights_only=True)
    assert set(state) == {"weight", "bias"} and state["weight"].shape == (1, 2064)
    pinned = yaml.safe_load(spec.read_text())
    assert pinned["weights"][0] == {**pinned["weights"][0], "file": head.name, "sha256": file_sha256(head)}
    assert pinned["options"]["default"] == {"backbones": ["lite0"], "head": head.name}
    load_linear_head(head, file_sha256(head), 2064)  # the detector's own loader accepts it

    answers = json.loads((out / "oof_answers.json").read_text())
    rows = manifest.read_text().splitlines()[1:]
    assert answers["detector"] == "clip_universal" and answers["weights_sha256"] == [file_sha256(head)]
    assert len(answers["answers"]) == len(rows) and answers["folds"] == 3
    assert all(0.0 <= a["prob_fake"] <= 1.0 for a in answers["answers"])

    card = (out / "MODEL_CARD.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert card.index("Leave-source-out") < card.index("## Data")
    assert f"{metrics['out_of_fold']['roc_auc']:.3f}" in card and "ECE" in card and file_sha256(head) in card
    assert metrics["checks"]["format_gap_mean"] < 0.05
    # The zoom crops were extra training rows, cached beside the manifest next to the whole-crop features.
    assert metrics["augment"] == "zoom" and "zoom crop" in card
    assert (manifest.parent / ".features" / "clip_universal_lite0_v1_zoom.npz").is_file()
