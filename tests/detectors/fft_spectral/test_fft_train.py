"""fft_spectral's training script end to end on a tiny corpus generated here and imported by the
benchmark's own import (no shared corpus, no data/), writing only into tmp paths."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmark.corpus import import_corpora
from detectors.fft_spectral import train
from detectors.fft_spectral.detector import WEIGHTS_FILE, FftSpectralDetector
from detectors.fft_spectral.model import load_bundle
from support.textures import pink_noise
from tribunal_sdk import DetectorSpec
from tribunal_sdk.media import ImageInput, file_sha256
from tribunal_sdk.oof_format import OOF_ANSWERS, OOF_FORMAT

SIDE = 272  # above the import's 256 px minimum; gives 5 distinct 256 px crops


def _fake(rng: np.random.Generator) -> Image.Image:
    """Nearest-neighbour 2x up-sampled noise: the decoder trace the spectral features look for."""
    small = np.asarray(pink_noise(SIDE // 2, SIDE // 2, rng, contrast=30.0))
    return Image.fromarray(np.repeat(np.repeat(small, 2, axis=0), 2, axis=1))


@pytest.fixture(scope="module")
def corpus_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(5)
    rows = []
    for label, generator, prefix in (
        ("real", "real", "cams"),
        ("ai", "stylegan", "gan"),
        ("ai", "sd1", "sd"),
    ):
        for s in range(3):
            for i in range(3):
                rel = f"{prefix}{s}/{i}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                image = pink_noise(SIDE, SIDE, rng, contrast=30.0) if label == "real" else _fake(rng)
                image.save(root / rel)
                rows.append([rel, label, generator, f"{prefix}/{s}"])
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "generator", "source_repo"])
        writer.writerows(rows)
    dest = tmp_path_factory.mktemp("imported") / "corpus"
    import_corpora([root / "manifest.csv"], dest, folds=3, seed=3, min_class_images=1)
    return dest / "manifest.csv"


def test_training_writes_bundle_answers_and_card(corpus_manifest, tmp_path, monkeypatch):
    # Few, fast candidates: this tests the pipeline, not the model search.
    monkeypatch.setattr(
        train,
        "CLASSIFIERS",
        (
            train.ClassifierSpec("logistic C=1", "logistic", (("C", 1.0),)),
            train.ClassifierSpec("boosting tiny", "boosting", (("max_iter", 10), ("min_samples_leaf", 2))),
        ),
    )
    monkeypatch.setattr(train, "SUBSETS", (("periodicity", "phase"),))
    real_spec = FftSpectralDetector.directory() / "detector.yaml"
    real_spec_bytes = real_spec.read_bytes()
    spec = tmp_path / "detector.yaml"
    shutil.copy(real_spec, spec)
    out = tmp_path / "weights"

    train.main(
        [
            "--corpus",
            str(corpus_manifest),
            "--out",
            str(out),
            "--spec",
            str(spec),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )

    assert real_spec.read_bytes() == real_spec_bytes  # the committed pin is untouched
    bundle = out / WEIGHTS_FILE
    sha = file_sha256(bundle)
    pinned = DetectorSpec.from_yaml(spec)
    assert pinned.weights[0].sha256 == sha
    model = load_bundle(bundle)
    assert model.crop_side in (256, 512) and model.families == ["gan", "sd"]

    answers = json.loads((out / OOF_ANSWERS).read_text())
    assert answers["format"] == OOF_FORMAT and answers["detector"] == "fft_spectral"
    assert answers["weights_sha256"] == [sha] and answers["folds"] == 3
    assert len(answers["answers"]) == 27
    assert all(0.0 <= a["prob_fake"] <= 1.0 for a in answers["answers"])

    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["candidates"]) == 3 * 2 + 1 * 2  # views x classifiers, then one subset x classifiers
    assert metrics["oof"]["n"] == 27 and 0.0 <= metrics["oof"]["roc_auc"] <= 1.0
    assert metrics["family_hint_oof"]["n"] == 18 and metrics["crop_side"] == model.crop_side
    # The up-sampling trace is plain here, so the leave-source-out figures see it.
    assert metrics["oof"]["roc_auc"] > 0.8

    card = (out / "MODEL_CARD.md").read_text()
    assert "Leave-source-out (out-of-fold)" in card
    assert (
        "make benchmark CORPUS=../shared/corpus/manifest.csv && make train-detector NAME=fft_spectral" in card
    )
    assert "| fold | real | AI | sources |" in card and sha in card
    assert "in-distribution" in card and "0.920" in card  # the old figures, below and labelled
    assert card.index("Leave-source-out") < card.index("Old in-distribution figures")

    # The service reads the new bundle: several crops averaged into one calibrated probability.
    class _Trained(FftSpectralDetector):
        def weights_path(self, filename):
            return out / filename

    detector = _Trained(pinned)
    detector.load()
    image = _fake(np.random.default_rng(9)).resize((2 * SIDE, 2 * SIDE), Image.NEAREST)
    [prediction] = detector.predict_batch([ImageInput(image=image, raw=b"", format="png")])
    assert 0.0 <= prediction.prob_fake <= 1.0
    assert prediction.details["crops"] == 5 and prediction.details["family_hint"] in ("gan", "sd")
