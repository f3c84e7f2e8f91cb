"""train.py end to end on a tiny benchmark: the head it writes is pinned and loads as the detector's."""

import json
import shutil

import pytest
import torch
import yaml

from detectors.clip_universal import train
from detectors.clip_universal.detector import ClipUniversalDetector
from detectors.clip_universal.published_weights import load_linear_head
from support.tiny_benchmark import make_tiny_benchmark
from tribunal_sdk.media import file_sha256


@pytest.mark.slow
def test_training_writes_a_pinned_fc_style_head_and_a_card(tmp_path):
    bench = tmp_path / "bench"
    make_tiny_benchmark(bench, per_class={"train": 4, "val": 3, "test": 3}, size=96)
    spec = tmp_path / "detector.yaml"
    shutil.copy(ClipUniversalDetector.directory() / "detector.yaml", spec)
    out = tmp_path / "weights"

    train.main(["--benchmark", str(bench), "--out", str(out), "--spec", str(spec), "--backbones", "lite0"])

    head = out / "probe_efficientnet_lite0.pth"
    state = torch.load(head, map_location="cpu", weights_only=True)
    assert set(state) == {"weight", "bias"} and state["weight"].shape == (1, 1792)
    pinned = yaml.safe_load(spec.read_text())
    assert pinned["weights"][0] == {**pinned["weights"][0], "file": head.name, "sha256": file_sha256(head)}
    assert pinned["options"]["default"] == {"backbone": "lite0", "head": head.name}
    load_linear_head(head, file_sha256(head), 1792)  # the detector's own loader accepts it

    card = (out / "MODEL_CARD.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"{metrics['test']['binary']['roc_auc']:.3f}" in card
    assert [r["name"] for r in metrics["robustness"]] == [
        "test, jpeg_q65",
        "test, resize_0.5x",
        "test, center_crop_0.75",
    ]
    assert "ECE" in card and file_sha256(head) in card
