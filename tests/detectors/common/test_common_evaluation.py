"""detectors.common.evaluation: the metrics and the robustness variants."""

import numpy as np
import pytest
from PIL import Image

from detectors.common.evaluation import (
    ROBUSTNESS_VARIANTS,
    attribution_report,
    binary_report,
    evaluate,
    expected_calibration_error,
)


def test_ece_is_zero_when_confidence_matches_accuracy():
    confidence = np.full(10, 0.8)
    correct = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)


def test_ece_of_an_overconfident_model():
    # Always 0.9 sure, right half the time: gap 0.4.
    assert expected_calibration_error(np.full(4, 0.9), np.array([1, 0, 1, 0])) == pytest.approx(0.4)


def test_binary_report_figures_and_per_source():
    y = [0, 0, 1, 1]
    p = [0.1, 0.6, 0.7, 0.9]
    r = binary_report(y, p, sources=["cam", "cam", "flux", "flux"])
    assert r.roc_auc == pytest.approx(1.0)
    assert r.accuracy == pytest.approx(0.75)
    assert r.per_source_accuracy == {"cam": 0.5, "flux": 1.0}
    assert r.per_source_count == {"cam": 2, "flux": 2}
    expected_ll = -np.mean(np.log([0.9, 0.4, 0.7, 0.9]))
    assert r.log_loss == pytest.approx(expected_ll)


def test_attribution_report_confusion_and_f1():
    classes = ["real", "flux", "sdxl"]
    y = [0, 0, 1, 1, 2]
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    r = attribution_report(y, probs, classes)
    assert r.confusion == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert r.per_class_f1["real"] == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert r.per_class_f1["flux"] == pytest.approx(0.8)  # precision 2/3, recall 1
    assert r.per_class_f1["sdxl"] == pytest.approx(1.0)
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)
    assert r.accuracy == pytest.approx(0.8)


def test_macro_f1_ignores_classes_absent_from_the_split():
    r = attribution_report([0, 1], np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]]), ["real", "flux", "sdxl"])
    assert r.macro_f1 == pytest.approx(1.0)
    assert r.per_class_support["sdxl"] == 0


def test_evaluate_derives_prob_fake_from_p_real():
    classes = ["real", "flux"]
    report = evaluate("t", classes, [0, 1], probs=np.array([[0.9, 0.1], [0.3, 0.7]]))
    assert report.binary.roc_auc == pytest.approx(1.0)
    assert report.binary.accuracy == pytest.approx(1.0)
    assert report.headline()["macro_f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="probs or prob_fake"):
        evaluate("t", classes, [0, 1])


def test_robustness_variants():
    image = Image.new("RGB", (256, 256), (10, 200, 30))
    assert ROBUSTNESS_VARIANTS["resize_0.5x"](image).size == (128, 128)
    assert ROBUSTNESS_VARIANTS["center_crop_0.75"](image).size == (192, 192)
    assert ROBUSTNESS_VARIANTS["jpeg_q65"](image).size == (256, 256)
