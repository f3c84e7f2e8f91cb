"""Scene groups and the train/val/test split by scene group.

The rule: near-duplicates never cross splits. Two sources are in one scene group when a finder gave
them the same scene key (stereo pairs, frame runs, one wallpaper at several sizes, one photo session)
or when their whole-image perceptual hashes are within ``GROUP_MAX_DISTANCE`` bits (the same photo
shipped by two packages, an edit of the same scene). Every patch of a source, and every simulated fake
made from such a patch, takes its group's split.

Groups are split inside strata (each real origin, each AI class) so every source and class appears in
every split when it has enough groups: 70/15/15 by expected patch count, drawn with a seeded RNG.
Hard negatives (renders) go to test only: they measure false alarms and are not taught as "real".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.normalise import stable_seed

SPLITS = ("train", "val", "test")
FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
# 64-bit pHash distance at or under which two whole source images count as one scene. Measured on
# the sources: the same photo in two packages is 0, an API edit of one scene 12; the nearest
# unrelated pairs are 12-16 (merging those too only costs split balance, never leaks).
GROUP_MAX_DISTANCE = 12


def hamming_matrix(hashes: Sequence[int]) -> np.ndarray:
    """Pairwise bit distances between 64-bit hashes."""
    arr = np.asarray([int(h) for h in hashes], dtype=np.uint64)
    return np.bitwise_count(arr[:, None] ^ arr[None, :]).astype(np.int32)


def group_sources(
    scene_keys: Sequence[str], hashes: Sequence[int], max_distance: int = GROUP_MAX_DISTANCE
) -> list[str]:
    """The scene group of every source: union of equal scene keys and near-identical hashes.

    A group is named after the smallest scene key in it, so names are stable across runs.
    """
    n = len(scene_keys)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first_with_key: dict[str, int] = {}
    for i, key in enumerate(scene_keys):
        union(i, first_with_key.setdefault(key, i))
    if n:
        close = np.argwhere(np.triu(hamming_matrix(hashes) <= max_distance, k=1))
        for i, j in close:
            union(int(i), int(j))
    names: dict[int, str] = {}
    for i in range(n):
        root = find(i)
        names[root] = min(names.get(root, scene_keys[i]), scene_keys[i])
    return [names[find(i)] for i in range(n)]


@dataclass(frozen=True)
class GroupInfo:
    """What the split assignment needs about one scene group."""

    stratum: str
    weight: float  # expected number of patches
    test_only: bool = False


def assign_splits(groups: Mapping[str, GroupInfo], seed: int) -> dict[str, str]:
    """Assign every scene group to a split, stratum by stratum.

    Within a stratum, groups are visited in a seeded random order and each goes to the split furthest
    below its 70/15/15 share of the stratum's weight. A stratum with at least three groups then gets at
    least one group in val and in test (the lightest train groups move), so each class with enough
    independent groups is present in every split.
    """
    by_stratum: dict[str, list[str]] = {}
    assignment: dict[str, str] = {}
    for name in sorted(groups):
        info = groups[name]
        if info.test_only:
            assignment[name] = "test"
        else:
            by_stratum.setdefault(info.stratum, []).append(name)
    for stratum, names in sorted(by_stratum.items()):
        rng = np.random.default_rng(stable_seed(seed, "split", stratum))
        order = [names[i] for i in rng.permutation(len(names))]
        total = sum(groups[g].weight for g in order)
        filled = dict.fromkeys(SPLITS, 0.0)
        members: dict[str, list[str]] = {s: [] for s in SPLITS}
        for g in order:
            split = max(SPLITS, key=lambda s: FRACTIONS[s] * total - filled[s])
            filled[split] += groups[g].weight
            members[split].append(g)
        if len(order) >= 3:
            for split in ("test", "val"):
                if not members[split]:
                    donor = max(("train", "val", "test"), key=lambda s: len(members[s]))
                    lightest = min(members[donor], key=lambda g: (groups[g].weight, g))
                    members[donor].remove(lightest)
                    members[split].append(lightest)
        for split, gs in members.items():
            for g in gs:
                assignment[g] = split
    return assignment
