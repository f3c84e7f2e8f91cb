"""The training script end to end on a tiny imported corpus (made in conftest): weights, out-of-fold
answers, card and metrics written, a temporary detector.yaml pinned, and the detector loads the result."""

import json
import shutil

import numpy as np
import pytest

from detectors.attribution_cnn import train
from detectors.attribution_cnn.detector import WEIGHTS_FILE, AttributionCnnDetector
from detectors.common.corpus_training import CorpusSet
from support.media import encode
from support.textures import pink_noise
from tribunal_sdk import DetectorSpec
from tribunal_sdk.media import decode_image, file_sha256
from tribunal_sdk.oof_format import OOF_ANSWERS

from .conftest import TINY_CLASSES, detector_on


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    spec = out / "detector.yaml"
    shutil.copy(AttributionCnnDetector.directory() / "detector.yaml", spec)
    train.main(
        [
            "--corpus",
            str(tiny_corpus),
            "--out",
            str(out / "weights"),
            "--spec",
            str(spec),
            "--c-grid",
            "0.1,1",
            "--variants",
            "lite0",
            "--input-sizes",
            "0",  # the backbone's own ImageNet input: 224 for lite0
        ]
    )
    return out


def test_training_writes_pinned_weights_and_public_classes(trained):
    weights = trained / "weights" / WEIGHTS_FILE
    spec = DetectorSpec.from_yaml(trained / "detector.yaml")
    assert spec.weights[0].sha256 == file_sha256(weights)
    assert spec.classes == TINY_CLASSES and spec.input_size == 224
    assert spec.backbone.startswith("tf_efficientnet_lite0 ")
    # The committed detector.yaml is untouched.
    assert AttributionCnnDetector().spec.weights[0].sha256 != spec.weights[0].sha256


def test_out_of_fold_answers_cover_every_image(trained, tiny_corpus):
    payload = json.loads((trained / "weights" / OOF_ANSWERS).read_text())
    corpus = CorpusSet.load(tiny_corpus)
    assert payload["detector"] == "attribution_cnn" and payload["folds"] == 3
    assert payload["weights_sha256"] == [file_sha256(trained / "weights" / WEIGHTS_FILE)]
    assert [a["sha256"] for a in payload["answers"]] == [r.sha256 for r in corpus.rows]
    for answer in payload["answers"]:
        probs = answer["class_probs"]
        assert list(probs) == TINY_CLASSES and sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert answer["prob_fake"] == pytest.approx(1.0 - probs["real"], abs=1e-5)


def test_card_and_metrics_lead_with_leave_source_out_figures(trained):
    card = (trained / "weights" / "MODEL_CARD.md").read_text()
    assert card.index("Leave-source-out") < card.index("### Attribution") < card.index("Old in-distribution")
    for needle in (
        "Per generator family",
        "top-1 among",
        "Targets (issue 12)",
        "What is weak",
        "C=0.1",
        "C=1",
    ):
        assert needle in card
    assert (
        "make benchmark CORPUS=../shared/corpus/manifest.csv && make train-detector NAME=attribution_cnn"
        in card
    )
    metrics = json.loads((trained / "weights" / "metrics.json").read_text())
    assert len(metrics["candidates"]) == 4 and metrics["chosen"]["name"] in {
        c["name"] for c in metrics["candidates"]
    }
    assert 0.0 <= metrics["oof"]["roc_auc"] <= 1.0 and metrics["temperature"] > 0
    assert metrics["end_to_end_max_logit_gap"] < 1e-2
    assert metrics["corpus"]["images"] == 18
    # By default no augmented rows: the card says why (out-of-fold and held-out figures disagreed).
    assert metrics["chosen"]["augment"] == "none" and "`--augment zoom`" in card


def test_the_detector_serves_the_trained_weights(trained):
    detector = detector_on(trained / "weights", TINY_CLASSES)
    detector.load()
    item = decode_image(encode(pink_noise(600, 800, np.random.default_rng(1)), "PNG"))
    prediction = detector.predict_batch([item])[0]
    assert set(prediction.class_probs) == set(TINY_CLASSES) and prediction.details["crops"] == 5


def test_the_card_says_how_often_a_named_family_is_right_at_each_floor():
    from types import SimpleNamespace

    from detectors.attribution_cnn.card import NAMING_FLOORS, attribution_figures

    classes = ["real", "flux", "sd"]
    # Two AI images named confidently and right, one named weakly and wrong, one real image.
    probs = np.array(
        [
            [0.1, 0.85, 0.05],  # flux, top share 0.94: right
            [0.2, 0.0, 0.8],  # sd, top share 1.0: right
            [0.1, 0.5, 0.4],  # sd, top share 0.56 (flux): wrong
            [0.9, 0.05, 0.05],  # real
        ]
    )
    corpus = SimpleNamespace(
        class_names=np.array(["flux", "sd", "sd", "real"]),
        y=np.array([1, 1, 1, 0]),
        sources=np.array(["a", "b", "c", "d"]),
        families=np.array(["flux", "sd", "sd", "real"]),
    )
    naming = {n["floor"]: n for n in attribution_figures(corpus, classes, probs).naming}
    assert set(naming) == set(NAMING_FLOORS)
    assert naming[0.5]["named"] == pytest.approx(1.0) and naming[0.5]["right_when_named"] == pytest.approx(
        2 / 3
    )
    assert naming[0.6]["named"] == pytest.approx(2 / 3) and naming[0.6]["right_when_named"] == 1.0
