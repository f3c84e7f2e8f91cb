"""End to end: a build from a user's own folders (``data/custom/<class>/``), and an idempotent rerun.

The packaged sources are switched off here (CI does not install them); everything else is the real
build: normalisation, grouping, splitting, autoencoder training (fewer steps), simulation, checks, card.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from benchmark import build as build_module
from benchmark import simulate
from benchmark.build import BuildOptions, build
from benchmark.sources import Discovery
from support.textures import pink_noise

REQUIRED_COLUMNS = (
    "path",
    "label",
    "source",
    "family",
    "origin_package",
    "origin_file",
    "scene_group",
    "split",
)


@pytest.fixture(scope="module")
def custom_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("custom")
    rng = np.random.default_rng(2024)
    for i in range(24):
        side = int(rng.integers(330, 400))
        folder = root / "real" / ("holiday" if i < 4 else "")
        folder.mkdir(parents=True, exist_ok=True)
        pink_noise(side, side * 4 // 3, rng).save(folder / f"photo_{i}.png")
    for cls, n in (("flux", 8), ("stable-diffusion-xl", 8), ("sd35", 3)):
        (root / cls).mkdir()
        for i in range(n):
            side = int(rng.integers(330, 400))
            pink_noise(side, side * 4 // 3, rng).save(root / cls / f"{cls}_{i}.webp", lossless=True)
    return root


_QUICK = dataclasses.replace(simulate.TrainConfig(seed=0), steps=15)


def _quick_config(seed: int) -> simulate.TrainConfig:
    """The simulators' training config with 15 steps instead of 300 (the pipeline is what is tested)."""
    return dataclasses.replace(_QUICK, seed=seed)


@pytest.fixture(scope="module")
def built(custom_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    patch = pytest.MonkeyPatch()
    patch.setattr(build_module, "find_real_photos", Discovery)
    patch.setattr(build_module, "find_comfy_stills", Discovery)
    patch.setattr(simulate, "TrainConfig", _quick_config)
    try:
        first = build(BuildOptions(out=out, custom=custom_dir))
        mtimes = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.jpg")}
        sims = {p: p.stat().st_mtime_ns for p in (out / "simulators").glob("*.pt")}
        second = build(BuildOptions(out=out, custom=custom_dir))
    finally:
        patch.undo()
    return out, first, second, mtimes, sims


def _manifest(out):
    with (out / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_manifest_lists_every_patch_with_the_issue_columns(built):
    out, first, _, _, _ = built
    rows = _manifest(out)
    assert rows and set(REQUIRED_COLUMNS) <= set(rows[0])
    assert len(rows) == len(first.records)
    for row in rows:
        with Image.open(out / row["path"]) as im:
            assert (im.format, im.size) == ("JPEG", (256, 256))
        assert row["split"] in ("train", "val", "test") and row["label"] in ("real", "fake")


def test_custom_classes_are_labelled_and_rare_generators_merged(built):
    rows = _manifest(built[0])
    classes = {(r["source"], r["class_name"]) for r in rows if r["family"] == "ai_custom"}
    # sd35 has 3 scene groups, fewer than a class needs to be in every split: kept in source, merged in class
    assert classes == {("flux", "flux"), ("sdxl", "sdxl"), ("sd35", "other_ai")}
    real = {r["origin_package"] for r in rows if r["label"] == "real"}
    assert real == {"custom"}


def test_no_scene_group_spans_splits_and_sub_folders_stay_together(built):
    rows = _manifest(built[0])
    splits = defaultdict(set)
    for r in rows:
        splits[r["scene_group"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())
    holiday = {r["scene_group"] for r in rows if "/holiday/" in r["origin_file"]}
    assert len(holiday) == 1
    by_path = {r["path"]: r for r in rows}
    simulated = [r for r in rows if r["family"] == "simulated"]
    assert {r["class_name"] for r in simulated} == set(simulate.FAMILIES)
    for r in simulated:
        assert by_path[r["parent"]]["split"] == r["split"] and by_path[r["parent"]]["label"] == "real"


def test_checks_are_run_recorded_and_a_small_set_fails_the_counts(built):
    out, first, _, _, _ = built
    names = {c.name: c for c in first.checks}
    assert {"leakage", "counts", "confound (all fakes vs all real photos)"} <= set(names)
    assert names["leakage"].passed
    assert not names["counts"].passed and not first.gates_passed  # a few dozen photos are not enough
    card = (out / "DATASET_CARD.md").read_text()
    assert "Checks: **FAIL**" in card and "real photo patches" in card and "seed" in card
    for family in simulate.FAMILIES:
        assert f"`simulators/{family}.pt` sha256" in card


def test_a_second_run_reuses_every_file(built):
    _, first, second, mtimes, sims = built
    out = built[0]
    assert {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.jpg")} == mtimes
    assert {p: p.stat().st_mtime_ns for p in (out / "simulators").glob("*.pt")} == sims
    assert [r.path for r in second.records] == [r.path for r in first.records]
    assert second.timings["normalise"] < first.timings["normalise"]


def test_fakes_made_by_another_simulation_version_are_made_again(built, custom_dir, monkeypatch):
    """Runs last: it rebuilds the module's output after forgetting which code made the fakes."""
    out = built[0]
    (out / ".build" / "simulated.json").unlink()
    before = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.jpg")}
    monkeypatch.setattr(build_module, "find_real_photos", Discovery)
    monkeypatch.setattr(build_module, "find_comfy_stills", Discovery)
    monkeypatch.setattr(simulate, "TrainConfig", _quick_config)
    build(BuildOptions(out=out, custom=custom_dir))
    after = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.jpg")}
    remade = {p for p in before if after[p] != before[p]}
    assert remade == {p for p in before if "/fake/sim_" in p.as_posix()}
