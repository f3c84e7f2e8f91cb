"""The build's checks: a confounded set is caught, leaks and thin classes are reported."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmark.balance import match_complexity
from benchmark.checks import (
    MIN_AI_PATCHES,
    confound_check,
    count_check,
    held_out_auc,
    leakage_check,
)
from benchmark.features import file_facts
from benchmark.manifest import PatchRecord
from benchmark.normalise import encode_jpeg, load_rgb, plan_and_render
from support.textures import pink_noise


@pytest.fixture(scope="module")
def confounded_set(tmp_path_factory):
    """The obvious, lying build: real photos as big PNGs, AI images as small WebP thumbnails.

    Both classes' pixels come from the same process, so only the files differ. Returns the raw files'
    facts and the facts of the same files after the shared normalisation, with labels and splits.
    """
    root = tmp_path_factory.mktemp("confounded")
    rng = np.random.default_rng(11)
    raw, norm = [], []
    for i in range(60):
        fake = i % 2
        split = "test" if (i // 2) % 3 == 0 else "train"
        side = int(rng.integers(290, 330)) if fake else int(rng.integers(420, 600))
        img = pink_noise(side, side * 5 // 4, rng)
        path = root / (f"{i}.webp" if fake else f"{i}.png")
        img.save(path, **({"quality": 70} if fake else {}))
        raw.append((file_facts(path).vector(), fake, split))
        for plan, patch in plan_and_render(load_rgb(path), seed=i)[:2]:
            out = root / f"{i}_{plan.index}.jpg"
            out.write_bytes(encode_jpeg(patch, plan.quality))
            norm.append((file_facts(out).vector(), fake, split))

    def arrays(rows):
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows]

    return arrays(raw), arrays(norm)


def test_a_confounded_set_is_caught(confounded_set):
    (facts, labels, splits), _ = confounded_set
    result = confound_check(facts, labels, splits, name="confound")
    assert not result.passed and result.gate
    assert result.value > 0.95
    assert "give the label away" in result.summary


def test_after_normalisation_format_size_and_quality_give_nothing_away(confounded_set):
    """Width, height, format and the JPEG quality of normalised patches are independent of the label.

    (The file size follows the content, which the build balances separately: see balance.py.)
    """
    _, (facts, labels, splits) = confounded_set
    assert set(facts[:, 2]) == {256.0} and set(facts[:, 3]) == {256.0} and len(set(facts[:, 4])) == 1
    result = confound_check(facts[:, 1:], labels, splits, name="confound")
    assert result.passed, result.summary


def test_a_classifier_below_chance_is_a_confound_too():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 100)
    feature = (1 - labels) + rng.normal(0, 0.1, 200)  # separates perfectly, inverted between splits
    splits = ["train"] * 100 + ["test"] * 100
    feature[100:] = labels[100:] + rng.normal(0, 0.1, 100)
    assert held_out_auc(feature[:, None], labels, splits) < 0.1
    assert not confound_check(feature[:, None], labels, splits).passed


def test_the_check_needs_both_classes_in_train_and_test_and_fails_without_them():
    args = (np.zeros((4, 1)), np.array([0, 0, 1, 1]), ["train", "train", "test", "test"])
    with pytest.raises(ValueError, match="both classes"):
        held_out_auc(*args)
    result = confound_check(*args)
    assert not result.passed and result.gate and "not measurable" in result.summary


def test_complexity_matching_gives_both_sides_one_distribution():
    rng = np.random.default_rng(0)
    real = rng.normal(10, 3, 2000)  # photos: many plain, low-detail patches
    fake = rng.normal(14, 2, 500)
    keep_real, keep_fake = match_complexity(real, fake, seed=1)
    kept_real, kept_fake = real[keep_real], fake[keep_fake]
    bins = np.quantile(np.concatenate([real, fake]), np.linspace(0, 1, 11))
    h_real = np.histogram(kept_real, bins)[0] / len(kept_real)
    h_fake = np.histogram(kept_fake, bins)[0] / len(kept_fake)
    assert np.abs(h_real - h_fake).max() < 0.02
    assert abs(kept_real.mean() - kept_fake.mean()) < 0.3 < abs(real.mean() - fake.mean())


def _record(path: str, split: str, group: str, label: str = "real", cls: str = "real", family: str = "photo"):
    return PatchRecord(
        path=path,
        label=label,
        class_name=cls,
        source="x",
        family=family,
        origin_package="p",
        origin_file=path,
        scene_group=group,
        split=split,
        jpeg_quality=80,
    )


def test_leakage_finds_a_group_in_two_splits_and_near_duplicate_patches():
    records = [_record("a", "train", "g1"), _record("b", "test", "g1"), _record("c", "val", "g2")]
    result = leakage_check(records, [0b0, 0b1111 << 40, 0xFFFF], ["train", "val"], [0, 2**64 - 1])
    assert not result.passed and "g1" in result.details["spanning_groups"]

    twins = [_record("a", "train", "g1"), _record("b", "test", "g2")]
    result = leakage_check(twins, [0b1010, 0b1011], ["train", "test"], [0, 2**64 - 1])
    assert not result.passed and result.details["patch_pairs"] == 1

    same_source = leakage_check(twins, [0, 2**64 - 1], ["train", "test"], [0xF0F0, 0xF0F1])
    assert not same_source.passed and same_source.details["source_pairs"] == 1

    clean = leakage_check(twins, [0, 2**64 - 1], ["train", "test"], [0, 2**64 - 1])
    assert clean.passed


def test_counts_name_what_is_short_and_which_split_lacks_a_class():
    records = [_record(f"r{i}", "train", "g") for i in range(10)]
    records += [_record(f"f{i}", "train", "h", "fake", "flux", "ai_t2i") for i in range(5)]
    result = count_check(records, ["sim_nearest_conv"])
    assert not result.passed
    assert f"5 AI-image patches < {MIN_AI_PATCHES}" in result.summary
    assert "0 sim_nearest_conv patches < 500" in result.summary
    assert "class flux missing from val, test" in result.summary


def test_pink_noise_helper_looks_like_a_photo_not_a_flat_field():
    img = pink_noise(256, 256, np.random.default_rng(0))
    assert isinstance(img, Image.Image) and np.asarray(img).std() > 6
