"""The feature matrix: fixed order, logits, missing indicators, attribution classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meta_learner.features import DetectorScore, FeatureSpec, attribution_classes, encode

SPEC = FeatureSpec(media_type="image", detectors=["a", "attr"], classes={"attr": ["flux", "sim"]})


def test_names_follow_the_spec_order():
    assert SPEC.names == ["a.logit", "a.missing", "attr.logit", "attr.missing", "attr.p[flux]", "attr.p[sim]"]


def test_encode_logits_classes_and_missing_indicators():
    rows = encode(
        SPEC,
        [
            {"a": DetectorScore(0.8), "attr": DetectorScore(0.6, {"real": 0.4, "flux": 0.5, "sim": 0.1})},
            {"attr": DetectorScore(0.5)},  # a missing; attr gave no class probabilities
            {"a": DetectorScore(1.0)},  # a certain score stays finite
        ],
    )
    assert rows[0] == pytest.approx([math.log(4), 0, math.log(1.5), 0, 0.5, 0.1])
    assert rows[1].tolist() == [0, 1, 0, 0, 0, 0]
    assert np.isfinite(rows[2]).all() and rows[2][0] == pytest.approx(math.log(0.9999 / 0.0001))
    assert rows[2][3] == 1  # attr missing


def test_only_attribution_detectors_contribute_classes_and_real_is_left_out():
    assert attribution_classes({"task": "attribution", "classes": ["real", "flux", "sdxl"]}) == [
        "flux",
        "sdxl",
    ]
    assert attribution_classes({"task": "binary", "classes": ["real", "fake"]}) == []
    assert attribution_classes(None) == []


def test_spec_refuses_classes_of_unknown_detectors_and_repeats():
    with pytest.raises(ValueError, match="not in the feature list"):
        FeatureSpec(media_type="image", detectors=["a"], classes={"b": ["flux"]})
    with pytest.raises(ValueError, match="listed twice"):
        FeatureSpec(media_type="image", detectors=["a", "a"])
