"""Fused attribution: P(real) = 1 - score_fake, generators share score_fake by the detectors' proportions,
and every name a user sees is a public family (never a simulated training class)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.attribution import (
    ClassVote,
    fuse_attribution,
    public_class,
    public_class_probs,
    public_detector_result,
)
from tribunal_sdk.taxonomy import PUBLIC_CLASSES, SIMULATED


def test_one_detector_splits_the_fake_score_by_its_generator_proportions():
    result = fuse_attribution(0.8, [ClassVote("a", {"real": 0.5, "sdxl": 0.3, "flux": 0.2})])
    assert result is not None
    assert result.probs["real"] == pytest.approx(0.2)
    assert result.probs["sdxl"] == pytest.approx(0.8 * 0.6)
    assert result.probs["flux"] == pytest.approx(0.8 * 0.4)
    assert sum(result.probs.values()) == pytest.approx(1.0)
    assert result.predicted_source == "sdxl"


def test_detectors_are_averaged_by_weight():
    votes = [
        ClassVote("a", {"real": 0.0, "sdxl": 1.0}, weight=1.0),
        ClassVote("b", {"real": 0.2, "flux": 0.8}, weight=3.0),
    ]
    result = fuse_attribution(0.6, votes)
    assert result is not None
    assert result.probs["sdxl"] == pytest.approx(0.6 * 0.25)
    assert result.probs["flux"] == pytest.approx(0.6 * 0.75)
    assert result.predicted_source == "flux"


def test_a_low_fake_score_predicts_real():
    result = fuse_attribution(0.1, [ClassVote("a", {"real": 0.1, "sdxl": 0.9})])
    assert result is not None
    assert result.predicted_source == "real"
    assert result.probs["real"] == pytest.approx(0.9)


def test_a_fake_score_names_a_generator_even_when_real_is_the_largest_single_entry():
    # flux holds half the generator mass (the default floor), so it is named although P(real) = 0.34
    # is larger than P(flux) = 0.33.
    votes = [ClassVote("a", {"real": 0.2, "flux": 0.4, "sdxl": 0.2, "gpt_image": 0.2})]
    result = fuse_attribution(0.66, votes)
    assert result is not None
    assert result.probs["real"] > max(p for name, p in result.probs.items() if name != "real")
    assert result.predicted_source == "flux"
    assert fuse_attribution(0.66, votes, threshold=0.7).predicted_source == "real"


def test_fused_attribution_always_sums_to_one():
    rng = np.random.default_rng(7)
    classes = ["real", "sdxl", "flux", "midjourney", "gpt_image", *SIMULATED, "sd1", "dalle3", "mystery_net"]
    for _ in range(200):
        votes = []
        for i in range(rng.integers(1, 4)):
            chosen = rng.choice(classes, size=rng.integers(2, len(classes) + 1), replace=False)
            p = rng.dirichlet(np.ones(len(chosen)))
            votes.append(
                ClassVote(
                    f"d{i}", dict(zip(chosen.tolist(), p.tolist(), strict=True)), float(rng.uniform(0.1, 3))
                )
            )
        score = float(rng.uniform())
        result = fuse_attribution(score, votes)
        assert result is not None  # every vote has at least two classes, so some generator mass
        assert sum(result.probs.values()) == pytest.approx(1.0)
        assert result.probs["real"] == pytest.approx(1 - score)
        assert all(p >= 0 for p in result.probs.values())
        assert set(result.probs) <= set(PUBLIC_CLASSES)
        assert result.predicted_source in PUBLIC_CLASSES


def test_no_class_probabilities_means_no_attribution():
    assert fuse_attribution(0.7, []) is None
    assert fuse_attribution(None, [ClassVote("a", {"real": 0.2, "sdxl": 0.8})]) is None


def test_a_detector_sure_it_is_real_has_no_say_about_the_generator():
    votes = [ClassVote("a", {"real": 1.0, "sdxl": 0.0}), ClassVote("b", {"real": 0.5, "flux": 0.5})]
    result = fuse_attribution(0.4, votes)
    assert result is not None
    assert set(result.probs) == {"real", "flux"}
    assert result.probs["flux"] == pytest.approx(0.4)


# Public names -------------------------------------------------------------------------------------


def test_class_names_map_to_public_families():
    assert public_class("sdxl") == "sdxl" and public_class("real") == "real"
    assert public_class("unknown_ai") == "unknown_ai"
    for simulated in SIMULATED:
        assert public_class(simulated) == "unknown_ai"  # AI-made, family unknown
    assert public_class("sim_something_new") == "unknown_ai"
    assert public_class("sd1") == "sd" and public_class("dalle3") == "gpt_image"
    assert public_class("imagen") == "gemini" and public_class("stylegan") == "gan"
    assert public_class("mystery_net") == "other_ai"  # a name no family knows


def test_class_probs_are_folded_onto_families_and_still_sum_to_one():
    probs = {
        "real": 0.1,
        "sim_pixel_shuffle": 0.3,
        "sim_nearest_conv": 0.2,
        "sd1": 0.1,
        "sd": 0.05,
        "dalle3": 0.15,
        "mystery_net": 0.1,
    }
    public = public_class_probs(probs)
    assert public == pytest.approx(
        {"real": 0.1, "unknown_ai": 0.5, "sd": 0.15, "gpt_image": 0.15, "other_ai": 0.1}
    )
    assert sum(public.values()) == pytest.approx(1.0)


def test_simulated_mass_goes_to_unknown_ai_in_the_fused_attribution():
    vote = ClassVote("a", {"real": 0.2, "sim_pixel_shuffle": 0.3, "sim_bilinear_conv": 0.3, "sdxl": 0.2})
    result = fuse_attribution(0.8, [vote])
    assert result is not None
    assert set(result.probs) == {"real", "unknown_ai", "sdxl"}
    assert result.probs["unknown_ai"] == pytest.approx(0.8 * 0.75)
    assert result.probs["sdxl"] == pytest.approx(0.8 * 0.25)
    assert sum(result.probs.values()) == pytest.approx(1.0)
    # unknown_ai holds most of the fake mass but is never the "most likely family"; sdxl's quarter
    # share is under the default floor, so the source is unknown_ai.
    assert result.predicted_source == "unknown_ai"
    assert fuse_attribution(0.8, [vote], min_share=0.2).predicted_source == "sdxl"


def test_only_simulated_mass_means_unknown_ai():
    result = fuse_attribution(0.9, [ClassVote("a", {"real": 0.1, "sim_nearest_conv": 0.9})])
    assert result is not None
    assert result.probs == pytest.approx({"real": 0.1, "unknown_ai": 0.9})
    assert result.predicted_source == "unknown_ai"


@pytest.mark.parametrize(
    ("min_share", "expected"),
    [(0.0, "flux"), (0.3, "flux"), (0.35, "flux"), (0.36, "unknown_ai"), (1.0, "unknown_ai")],
)
def test_below_the_floor_the_source_is_unknown_ai(min_share, expected):
    # flux holds 0.35 of the fake mass: named at a floor up to 0.35, not above it.
    votes = [ClassVote("a", {"real": 0.0, "flux": 0.35, "sdxl": 0.33, "midjourney": 0.32})]
    result = fuse_attribution(0.9, votes, min_share=min_share)
    assert result is not None
    assert result.predicted_source == expected
    assert result.probs["flux"] == pytest.approx(0.9 * 0.35)  # the distribution is the same either way


def test_the_floor_never_turns_a_real_verdict_into_unknown_ai():
    result = fuse_attribution(0.2, [ClassVote("a", {"real": 0.8, "sim_pixel_shuffle": 0.2})], min_share=1.0)
    assert result is not None
    assert result.predicted_source == "real"


def test_a_family_holding_all_the_fake_mass_is_named_at_any_floor():
    result = fuse_attribution(0.7, [ClassVote("a", {"real": 0.3, "sd1": 0.4, "sd2": 0.3})], min_share=1.0)
    assert result is not None
    assert result.probs == pytest.approx({"real": 0.3, "sd": 0.7})
    assert result.predicted_source == "sd"


def test_a_detector_result_gets_public_class_probs_and_details():
    result = {
        "name": "attribution_cnn",
        "status": "ok",
        "class_probs": {"real": 0.1, "sim_pixel_shuffle": 0.6, "sdxl": 0.3},
        "details": {
            "predicted_class": "sim_pixel_shuffle",
            "predicted_source": "sim_pixel_shuffle",
            "family_hint": "dalle3",
            "family_probs_if_ai": {"sim_nearest_conv": 0.7, "flux": 0.3},
            "analysed_crop_px": 224,
        },
    }
    public = public_detector_result(result)
    assert public["name"] == "attribution_cnn" and public["status"] == "ok"
    assert public["class_probs"] == pytest.approx({"real": 0.1, "unknown_ai": 0.6, "sdxl": 0.3})
    assert public["details"] == {
        "predicted_class": "unknown_ai",
        "predicted_source": "unknown_ai",
        "family_hint": "gpt_image",
        "family_probs_if_ai": pytest.approx({"unknown_ai": 0.7, "flux": 0.3}),
        "analysed_crop_px": 224,
    }
    assert result["class_probs"]["sim_pixel_shuffle"] == 0.6  # the input is left as it was
    # Nothing to map: no class_probs, a null source.
    assert public_detector_result({"class_probs": None, "details": {"predicted_source": None}}) == {
        "class_probs": None,
        "details": {"predicted_source": None},
    }
