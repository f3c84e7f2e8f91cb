"""The checks a build must pass (and the card records): confound, sharpness, leakage, counts.

Confound: a gradient-boosted classifier trained on the train split's file facts alone (file size, JPEG
quality estimate, width, height, format) must score near chance on the test split: ROC-AUC within
0.10 of 0.5. An AUC far *below* 0.5 would mean the facts separate the classes just as well, inverted,
so the distance from chance is what is held to 0.10 (AUC <= 0.60 and >= 0.40).

Sharpness: the same kind of classifier on Laplacian variance, high-frequency energy and noise level,
real photo patches against simulated fakes (DATA.md: blurry fakes teach "blur = fake").

Leakage: no scene group in two splits, no two patches in different splits whose perceptual hashes are
within LEAK_MAX_DISTANCE bits, and no two source images in different splits within the grouping
distance.

Counts: at least 2,000 real photo patches, 400 AI-image patches, 500 per simulated family, and every
class in every split.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from benchmark.manifest import PatchRecord
from benchmark.splits import GROUP_MAX_DISTANCE, SPLITS, hamming_matrix

CHANCE_MARGIN = 0.10
LEAK_MAX_DISTANCE = 4
MIN_REAL_PATCHES = 2000
MIN_AI_PATCHES = 400
MIN_SIM_PATCHES = 500


@dataclass
class CheckResult:
    """One check's outcome. ``gate`` checks fail the build; the others are recorded figures."""

    name: str
    passed: bool
    summary: str
    value: float | None = None
    gate: bool = True
    details: dict[str, float | int | str] = field(default_factory=dict)


def held_out_auc(features: np.ndarray, labels: np.ndarray, splits: Sequence[str], seed: int = 0) -> float:
    """ROC-AUC on the test split of a gradient-boosted classifier fitted on the train split."""
    splits_arr = np.asarray(splits)
    train, test = splits_arr == "train", splits_arr == "test"
    if len(set(labels[train])) < 2 or len(set(labels[test])) < 2:
        raise ValueError("both classes are needed in the train and the test split")
    model = GradientBoostingClassifier(random_state=seed).fit(features[train], labels[train])
    return float(roc_auc_score(labels[test], model.predict_proba(features[test])[:, 1]))


def near_chance(auc: float) -> bool:
    return abs(auc - 0.5) <= CHANCE_MARGIN


def confound_check(
    features: np.ndarray, labels: np.ndarray, splits: Sequence[str], name: str = "confound"
) -> CheckResult:
    """Can file facts alone (size, quality, width, height, format) tell fake from real? Must not."""
    try:
        auc = held_out_auc(features, labels, splits)
    except ValueError as exc:
        return CheckResult(name, False, f"not measurable: {exc}")
    verdict = "near chance" if near_chance(auc) else "NOT near chance: the files give the label away"
    return CheckResult(name, near_chance(auc), f"test ROC-AUC {auc:.3f} ({verdict})", value=auc)


def sharpness_check(
    features: np.ndarray, labels: np.ndarray, splits: Sequence[str], name: str, gate: bool
) -> CheckResult:
    """Can sharpness/noise features alone tell the two groups apart? Near chance is the goal."""
    try:
        auc = held_out_auc(features, labels, splits)
    except ValueError as exc:
        return CheckResult(name, False, f"not measurable: {exc}", gate=gate)
    verdict = "near chance" if near_chance(auc) else "NOT near chance"
    return CheckResult(name, near_chance(auc), f"test ROC-AUC {auc:.3f} ({verdict})", value=auc, gate=gate)


def leakage_check(
    records: Sequence[PatchRecord],
    patch_hashes: Sequence[int],
    source_splits: Sequence[str],
    source_hashes: Sequence[int],
) -> CheckResult:
    """No scene group in two splits; no cross-split near-duplicate patches or sources."""
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        splits_of_group[rec.scene_group].add(rec.split)
    spanning = sorted(g for g, s in splits_of_group.items() if len(s) > 1)

    def cross_split_pairs(hashes: Sequence[int], splits: Sequence[str], max_distance: int) -> int:
        if not hashes:
            return 0
        close = np.triu(hamming_matrix(hashes) <= max_distance, k=1)
        s = np.asarray(splits)
        return int((close & (s[:, None] != s[None, :])).sum())

    patch_pairs = cross_split_pairs(patch_hashes, [r.split for r in records], LEAK_MAX_DISTANCE)
    source_pairs = cross_split_pairs(source_hashes, source_splits, GROUP_MAX_DISTANCE)
    passed = not spanning and patch_pairs == 0 and source_pairs == 0
    summary = (
        f"{len(spanning)} scene groups in more than one split; {patch_pairs} cross-split patch pairs within "
        f"{LEAK_MAX_DISTANCE} pHash bits; {source_pairs} cross-split source pairs within {GROUP_MAX_DISTANCE} bits"
    )
    details: dict[str, float | int | str] = {"patch_pairs": patch_pairs, "source_pairs": source_pairs}
    if spanning:
        details["spanning_groups"] = ", ".join(spanning[:10])
    return CheckResult("leakage", passed, summary, details=details)


def count_check(records: Sequence[PatchRecord], sim_classes: Sequence[str]) -> CheckResult:
    """Enough patches of each kind, and every class in every split (hard negatives excepted)."""
    real = sum(1 for r in records if r.label == "real" and not r.hard_negative)
    ai = sum(1 for r in records if r.family.startswith("ai_"))
    sims = Counter(r.class_name for r in records if r.family == "simulated")
    problems = []
    if real < MIN_REAL_PATCHES:
        problems.append(f"{real} real photo patches < {MIN_REAL_PATCHES}")
    if ai < MIN_AI_PATCHES:
        problems.append(f"{ai} AI-image patches < {MIN_AI_PATCHES}")
    for cls in sim_classes:
        if sims[cls] < MIN_SIM_PATCHES:
            problems.append(f"{sims[cls]} {cls} patches < {MIN_SIM_PATCHES}")
    splits_of_class: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if not r.hard_negative:
            splits_of_class[r.class_name].add(r.split)
    for cls, present in sorted(splits_of_class.items()):
        missing = [s for s in SPLITS if s not in present]
        if missing:
            problems.append(f"class {cls} missing from {', '.join(missing)}")
    summary = (
        f"{real} real photo patches, {ai} AI-image patches, "
        + ", ".join(f"{sims[c]} {c}" for c in sim_classes)
        + f"; {len(splits_of_class)} classes"
    )
    if problems:
        summary += "; PROBLEMS: " + "; ".join(problems)
    return CheckResult("counts", not problems, summary, details={"real": real, "ai": ai, **dict(sims)})
