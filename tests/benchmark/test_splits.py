"""The split rule: near-duplicates share a scene group, and a scene group never spans splits."""

from __future__ import annotations

from collections import defaultdict

from benchmark.splits import GROUP_MAX_DISTANCE, SPLITS, GroupInfo, assign_splits, group_sources


def test_equal_scene_keys_form_one_group():
    keys = ["mvtb:stereo/left", "mvtb:campus", "mvtb:campus", "plasma:Kite", "plasma:Kite"]
    hashes = [0, 2**64 - 1, 0xFFFF_0000_FFFF_0000, 0x0F0F_0F0F_0F0F_0F0F, 0xAAAA_AAAA_AAAA_AAAA]
    groups = group_sources(keys, hashes)
    assert groups[1] == groups[2] == "mvtb:campus"
    assert groups[3] == groups[4] == "plasma:Kite"
    assert len(set(groups)) == 3


def test_perceptual_twins_join_a_group_even_across_packages():
    twin = 0x1234_5678_9ABC_DEF0 ^ ((1 << GROUP_MAX_DISTANCE) - 1)  # GROUP_MAX_DISTANCE bits apart
    far = 0x1234_5678_9ABC_DEF0 ^ (((1 << (GROUP_MAX_DISTANCE + 1)) - 1) << 40)  # far from both
    groups = group_sources(
        ["skimage:coffee", "opencv:coffee", "opencv:other"], [0x1234_5678_9ABC_DEF0, twin, far]
    )
    assert groups[0] == groups[1] == "opencv:coffee"  # named after the smallest key, stable across runs
    assert groups[2] == "opencv:other"


def test_grouping_is_transitive():
    base = 0
    groups = group_sources(["a", "b", "c"], [base, base ^ 0xFFF, base ^ 0xFFF_FFF])
    assert len(set(groups)) == 1  # a~b and b~c, so a, b, c are one scene


def _groups(n_per_stratum: dict[str, int]) -> dict[str, GroupInfo]:
    return {
        f"{stratum}:{i}": GroupInfo(stratum=stratum, weight=1 + (i * 7) % 5)
        for stratum, n in n_per_stratum.items()
        for i in range(n)
    }


def test_every_group_gets_one_split_and_classes_with_three_groups_reach_every_split():
    groups = _groups({"real:mvtb": 40, "fake:flux": 9, "fake:sdxl": 3, "fake:lumina": 2})
    groups["real:ukui:0"] = GroupInfo(stratum="real:ukui", weight=50, test_only=True)
    assignment = assign_splits(groups, seed=1729)
    assert set(assignment) == set(groups) and set(assignment.values()) <= set(SPLITS)
    present = defaultdict(set)
    for name, split in assignment.items():
        present[groups[name].stratum].add(split)
    for stratum in ("real:mvtb", "fake:flux", "fake:sdxl"):
        assert present[stratum] == set(SPLITS), stratum
    assert present["real:ukui"] == {"test"}


def test_splits_follow_70_15_15_by_weight():
    groups = _groups({"real:mvtb": 200})
    assignment = assign_splits(groups, seed=3)
    total = sum(g.weight for g in groups.values())
    share = {s: sum(groups[n].weight for n, sp in assignment.items() if sp == s) / total for s in SPLITS}
    assert (
        abs(share["train"] - 0.70) < 0.03
        and abs(share["val"] - 0.15) < 0.03
        and abs(share["test"] - 0.15) < 0.03
    )


def test_the_split_is_reproducible_from_the_seed():
    groups = _groups({"real:a": 30, "fake:flux": 8})
    assert assign_splits(groups, seed=5) == assign_splits(groups, seed=5)
    assert assign_splits(groups, seed=5) != assign_splits(groups, seed=6)
