"""Build ``data/benchmark/``: find sources, normalise patches, split, simulate, check, write card.

Idempotent: patches are named by a hash of their source and crop index, each source's crop plan and
perceptual hash are cached under ``.build/`` keyed by the file's sha256, simulator weights are reused
when their training set and config are unchanged, and per-patch features are cached by file
size/mtime. A second run only re-runs the checks and rewrites the manifest and card.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from benchmark import simulate as sim
from benchmark.balance import match_complexity
from benchmark.card import BuildSummary, write_card
from benchmark.checks import CheckResult, confound_check, count_check, leakage_check, sharpness_check
from benchmark.comfy import find_comfy_stills
from benchmark.features import file_facts, phash64, sharpness_features
from benchmark.generators import merge_rare
from benchmark.manifest import PatchRecord, write_manifest
from benchmark.normalise import (
    SourceTooSmall,
    complexity,
    encode_jpeg,
    load_rgb,
    plan_and_render,
    stable_seed,
)
from benchmark.sources import Discovery, Dropped, SourceImage, find_custom, find_real_photos
from benchmark.splits import GroupInfo, assign_splits, group_sources
from tribunal_sdk.media import file_sha256

# Bump when the normalisation or curation changes, so cached plans are recomputed.
PIPELINE_VERSION = "3"
DEFAULT_SEED = 1729
SIM_TRAIN_MAX = 1500  # train patches loaded for the autoencoders (memory and time bound)
SIM_BATCH = 16


@dataclass
class BuildOptions:
    """What to build and where."""

    out: Path
    custom: Path
    seed: int = DEFAULT_SEED
    install_warnings: list[str] = field(default_factory=list)
    install_notes: list[str] = field(default_factory=list)
    install_seconds: float = 0.0


@dataclass
class _Rendered:
    """A source after normalisation: its hash, and its patches (id, JPEG quality, complexity)."""

    source: SourceImage
    phash: int
    patches: list[tuple[str, int, int]]


def _patch_id(source: SourceImage, index: int) -> str:
    return hashlib.sha1(f"{source.key}#{index}".encode()).hexdigest()[:16]


def _patch_path(source: SourceImage, pid: str) -> str:
    return f"images/{source.label}/{source.source}/{pid}.jpg"


class _Cache:
    """A JSON file of cached values keyed by string; written back on save()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict = json.loads(path.read_text()) if path.is_file() else {}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def _render_sources(
    sources: list[SourceImage], out: Path, seed: int, cache: _Cache, keep_crops: dict[str, np.ndarray]
) -> tuple[list[_Rendered], list[Dropped]]:
    """Normalise every source into JPEG patches (skipping those already on disk)."""
    rendered: list[_Rendered] = []
    dropped: list[Dropped] = []
    for src in tqdm(sources, desc="normalise sources", unit="img"):
        digest = file_sha256(src.path)
        key = f"{PIPELINE_VERSION}:{seed}:{src.key}:{digest}:{src.content_box}"
        entry = cache.data.get(key)
        if entry is not None:  # patch files that are gone are restored by _restore_missing
            if entry.get("dropped"):
                dropped.append(Dropped(src.origin_package, src.origin_file, entry["dropped"]))
            else:
                rendered.append(_Rendered(src, int(entry["phash"]), [tuple(p) for p in entry["patches"]]))
            continue
        try:
            img = load_rgb(src.path, src.content_box)
            crops = plan_and_render(img, stable_seed(seed, src.key))
        except SourceTooSmall as exc:
            reason = f"too small for the pipeline ({exc})"
            cache.data[key] = {"dropped": reason, "patches": []}
            dropped.append(Dropped(src.origin_package, src.origin_file, reason))
            continue
        patches = []
        for plan, patch in crops:
            pid = _patch_id(src, plan.index)
            target = out / _patch_path(src, pid)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(encode_jpeg(patch, plan.quality))
            patches.append((pid, plan.quality, complexity(patch)))
            if src.family == "photo":
                keep_crops[pid] = patch
        entry = {"phash": phash64(img), "patches": patches}
        cache.data[key] = entry
        rendered.append(_Rendered(src, int(entry["phash"]), patches))
    cache.save()
    return rendered, dropped


def _restore_missing(records: list[PatchRecord], rendered: list[_Rendered], out: Path, seed: int) -> int:
    """Re-render the kept patches whose files are missing (normalisation is deterministic).

    Files go missing when a user deletes them, or when an earlier build's complexity matching dropped a
    patch that this build keeps; only those sources are decoded again.
    """
    missing = {r.path for r in records if not (out / r.path).is_file()}
    restored = 0
    for item in rendered if missing else []:
        wanted = {pid for pid, _, _ in item.patches if _patch_path(item.source, pid) in missing}
        if not wanted:
            continue
        img = load_rgb(item.source.path, item.source.content_box)
        for plan, patch in plan_and_render(img, stable_seed(seed, item.source.key)):
            pid = _patch_id(item.source, plan.index)
            if pid in wanted:
                target = out / _patch_path(item.source, pid)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(encode_jpeg(patch, plan.quality))
                restored += 1
    return restored


def _class_of(rendered: list[_Rendered], groups: list[str]) -> tuple[list[str], dict[str, str]]:
    groups_per_generator: dict[str, list[str]] = {}
    for r, g in zip(rendered, groups, strict=True):
        if r.source.label == "fake":
            groups_per_generator.setdefault(r.source.source, []).append(g)
    mapping = merge_rare(groups_per_generator)
    classes = ["real" if r.source.label == "real" else mapping[r.source.source] for r in rendered]
    return classes, mapping


def _train_simulators(
    records: list[PatchRecord], out: Path, seed: int
) -> tuple[dict[str, sim.PatchAutoencoder], dict[str, dict]]:
    """Train (or reuse) one autoencoder per family on the real TRAIN photo patches."""
    train_paths = sorted(r.path for r in records if r.family == "photo" and r.split == "train")
    rng = np.random.default_rng(stable_seed(seed, "sim-train-subset"))
    if len(train_paths) > SIM_TRAIN_MAX:
        train_paths = sorted(rng.choice(train_paths, SIM_TRAIN_MAX, replace=False).tolist())
    training_set = hashlib.sha256("\n".join(train_paths).encode()).hexdigest()
    patches: np.ndarray | None = None
    models: dict[str, sim.PatchAutoencoder] = {}
    metas: dict[str, dict] = {}
    for family, kind in sim.FAMILIES.items():
        weights = out / "simulators" / f"{family}.pt"
        config = sim.TrainConfig(seed=stable_seed(seed, family) % (2**31))
        sidecar = weights.with_suffix(".json")
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text())
            if meta.get("training_set") == training_set and meta.get("config") == sim.config_dict(config):
                models[family], metas[family] = sim.load_simulator(weights)
                continue
        if patches is None:
            patches = np.stack(
                [
                    np.asarray(Image.open(out / p).convert("RGB"))
                    for p in tqdm(train_paths, desc="load train patches")
                ]
            )
        bar = tqdm(total=config.steps, desc=f"train {family}", unit="step")
        model, stats = sim.train_autoencoder(
            kind,
            patches,
            config,
            progress=lambda step, loss, bar=bar: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")),
        )
        bar.close()
        meta = {
            "family": family,
            "upsampler": kind,
            "config": sim.config_dict(config),
            "training_set": training_set,
            "stats": stats,
            "noise_levels": list(sim.NOISE_LEVELS),
        }
        metas[family] = sim.save_simulator(weights, model, meta)
        models[family] = model
    return models, metas


def _match_complexity(
    records: list[PatchRecord], detail: dict[str, int], seed: int
) -> tuple[list[PatchRecord], str]:
    """Drop surplus photo/AI patches so both have one distribution of detail (see balance.py)."""
    photos = [r for r in records if r.family == "photo"]
    ai = [r for r in records if r.family.startswith("ai_")]
    keep_photo, keep_ai = match_complexity(
        [detail[r.path] for r in photos], [detail[r.path] for r in ai], stable_seed(seed, "balance") % (2**32)
    )
    dropped = {r.path for r, k in zip(photos, keep_photo, strict=True) if not k}
    dropped |= {r.path for r, k in zip(ai, keep_ai, strict=True) if not k}
    note = (
        f"complexity matching kept {int(keep_photo.sum())} of {len(photos)} real photo patches and "
        f"{int(keep_ai.sum())} of {len(ai)} AI-image patches"
    )
    return [r for r in records if r.path not in dropped], note


def _family_for(pid: str, seed: int) -> str:
    names = list(sim.FAMILIES)
    return names[stable_seed(seed, "family", pid) % len(names)]


def _simulate_patches(
    records: list[PatchRecord],
    sources_by_key: dict[str, SourceImage],
    out: Path,
    seed: int,
    models: dict[str, sim.PatchAutoencoder],
    keep_crops: dict[str, np.ndarray],
) -> tuple[list[PatchRecord], Counter]:
    """One simulated fake per real photo patch, by a family drawn from the patch id."""
    sim_records: list[PatchRecord] = []
    todo: dict[str, list[tuple[PatchRecord, str, str]]] = {}  # source key -> (parent, family, sim path)
    # Which simulation code made each stored fake: files from another version are made again.
    made_by = _Cache(out / ".build" / "simulated.json")
    for rec in records:
        if rec.family != "photo":
            continue
        pid = Path(rec.path).stem
        family = _family_for(pid, seed)
        sim_path = f"images/fake/{family}/{pid}.jpg"
        sim_rec = PatchRecord(
            path=sim_path,
            label="fake",
            class_name=family,
            source=family,
            family="simulated",
            origin_package=rec.origin_package,
            origin_file=rec.origin_file,
            scene_group=rec.scene_group,
            split=rec.split,
            jpeg_quality=int(np.random.default_rng(stable_seed(seed, "sim-quality", pid)).integers(70, 96)),
            parent=rec.path,
        )
        sim_records.append(sim_rec)
        if not (out / sim_path).is_file() or made_by.data.get(sim_path) != sim.SIMULATION_VERSION:
            todo.setdefault(f"{rec.origin_package}:{rec.origin_file}", []).append((rec, family, sim_path))
    levels: Counter = Counter()
    pending = [(rec, fam, path) for items in todo.values() for rec, fam, path in items]
    # Patches whose pre-JPEG crop is not in memory (a partial earlier run) are re-rendered from source.
    missing_sources = {
        k for k, items in todo.items() if any(Path(r.path).stem not in keep_crops for r, _, _ in items)
    }
    for key in tqdm(sorted(missing_sources), desc="re-render crops for simulation", unit="img"):
        src = sources_by_key[key]
        for plan, patch in plan_and_render(load_rgb(src.path, src.content_box), stable_seed(seed, src.key)):
            keep_crops.setdefault(_patch_id(src, plan.index), patch)
    quality = {r.path: r.jpeg_quality for r in sim_records}
    by_family: dict[str, list[tuple[PatchRecord, str]]] = {}
    for rec, fam, path in pending:
        by_family.setdefault(fam, []).append((rec, path))
    bar = tqdm(total=len(pending), desc="simulate fakes", unit="patch")
    for family, items in by_family.items():
        for start in range(0, len(items), SIM_BATCH):
            batch = items[start : start + SIM_BATCH]
            crops = np.stack([keep_crops[Path(rec.path).stem] for rec, _ in batch])
            fakes, chosen = sim.simulate_matched(
                models[family], crops, seed=stable_seed(seed, family, start) % (2**31)
            )
            levels.update(f"{family}@{lvl:g}" for lvl in chosen)
            for (_, path), fake in zip(batch, fakes, strict=True):
                target = out / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(encode_jpeg(fake, quality[path]))
                made_by.data[path] = sim.SIMULATION_VERSION
            bar.update(len(batch))
        made_by.save()
    bar.close()
    made_by.save()
    return sim_records, levels


def _features(records: list[PatchRecord], out: Path, cache: _Cache) -> dict[str, dict]:
    """File facts, sharpness features and pHash per patch (cached by size and mtime)."""
    feats: dict[str, dict] = {}
    for rec in tqdm(records, desc="measure patches", unit="patch"):
        path = out / rec.path
        st = path.stat()
        key = f"{rec.path}:{st.st_size}:{st.st_mtime_ns}"
        entry = cache.data.get(key)
        if entry is None:
            facts = file_facts(path)
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
                entry = {
                    "facts": facts.vector(),
                    "sharp": list(sharpness_features(rgb)),
                    "phash": phash64(im.convert("RGB")),
                }
            cache.data[key] = entry
        feats[rec.path] = entry
    cache.save()
    return feats


def _remove_stale(out: Path, records: list[PatchRecord]) -> int:
    """Delete image files no record points at (left over from an earlier configuration)."""
    wanted = {r.path for r in records}
    removed = 0
    images = out / "images"
    if images.is_dir():
        for path in images.rglob("*.jpg"):
            if path.relative_to(out).as_posix() not in wanted:
                path.unlink()
                removed += 1
    return removed


def build(options: BuildOptions) -> BuildSummary:
    """Build (or refresh) the benchmark under ``options.out``; returns the summary the card shows."""
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {"install": round(options.install_seconds, 1)}
    started = time.perf_counter() - options.install_seconds

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = round(now - since, 1)
        return now

    t = time.perf_counter()
    found = Discovery()
    found.extend(find_real_photos())
    found.extend(find_comfy_stills())
    found.extend(find_custom(options.custom))
    t = lap("discover", t)

    cache = _Cache(out / ".build" / "sources.json")
    keep_crops: dict[str, np.ndarray] = {}
    rendered, dropped = _render_sources(found.images, out, options.seed, cache, keep_crops)
    found.dropped.extend(dropped)
    t = lap("normalise", t)

    groups = group_sources([r.source.scene_key for r in rendered], [r.phash for r in rendered])
    classes, generator_mapping = _class_of(rendered, groups)
    infos: dict[str, GroupInfo] = {}
    for r, g, cls in zip(rendered, groups, classes, strict=True):
        stratum = f"real:{r.source.source}" if r.source.label == "real" else f"fake:{cls}"
        prev = infos.get(g)
        infos[g] = GroupInfo(
            stratum=prev.stratum if prev else stratum,
            weight=(prev.weight if prev else 0.0) + len(r.patches),
            test_only=(prev.test_only if prev else False) or r.source.hard_negative,
        )
    split_of = assign_splits(infos, options.seed)
    records: list[PatchRecord] = []
    detail: dict[str, int] = {}
    for r, g, cls in zip(rendered, groups, classes, strict=True):
        for pid, quality, cplx in r.patches:
            detail[_patch_path(r.source, pid)] = cplx
            records.append(
                PatchRecord(
                    path=_patch_path(r.source, pid),
                    label=r.source.label,
                    class_name=cls,
                    source=r.source.source,
                    family=r.source.family,
                    origin_package=r.source.origin_package,
                    origin_file=r.source.origin_file,
                    scene_group=g,
                    split=split_of[g],
                    jpeg_quality=quality,
                    hard_negative=r.source.hard_negative,
                )
            )
    records, balance_note = _match_complexity(records, detail, options.seed)
    _restore_missing(records, rendered, out, options.seed)
    t = lap("group_and_split", t)

    models, sim_meta = _train_simulators(records, out, options.seed)
    t = lap("train_simulators", t)
    sources_by_key = {r.source.key: r.source for r in rendered}
    sim_records, noise_levels = _simulate_patches(
        records, sources_by_key, out, options.seed, models, keep_crops
    )
    records.extend(sim_records)
    keep_crops.clear()
    t = lap("simulate", t)

    feats = _features(records, out, _Cache(out / ".build" / "features.json"))
    t = lap("measure", t)

    checks = _run_checks(records, feats, rendered, groups, split_of)
    t = lap("checks", t)
    write_manifest(out / "manifest.csv", records)
    stale = _remove_stale(out, records)
    timings["total"] = round(time.perf_counter() - started, 1)

    summary = BuildSummary(
        out=out,
        records=records,
        dropped=found.dropped,
        warnings=options.install_warnings + found.warnings,
        install_notes=options.install_notes,
        checks=checks,
        timings=timings,
        generator_mapping=generator_mapping,
        sim_meta=sim_meta,
        noise_levels=dict(noise_levels),
        seed=options.seed,
        stale_removed=stale,
        sources=[r.source for r in rendered],
        extra={"balance": balance_note},
    )
    summary.previous_full_build = _remember_build(out, timings)
    write_card(out / "DATASET_CARD.md", summary)
    return summary


def _remember_build(out: Path, timings: dict[str, float]) -> dict | None:
    """Keep the timing of the last run that rendered anything; a reuse run reports it too."""
    state_path = out / ".build" / "last_full_build.json"
    did_work = (
        timings.get("normalise", 0) + timings.get("simulate", 0) + timings.get("train_simulators", 0) > 60
    )
    if did_work:
        state = {"timings": timings, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        state_path.write_text(json.dumps(state, indent=2))
        return state
    return json.loads(state_path.read_text()) if state_path.is_file() else None


def _run_checks(
    records: list[PatchRecord],
    feats: dict[str, dict],
    rendered: list[_Rendered],
    groups: list[str],
    split_of: dict[str, str],
) -> list[CheckResult]:
    all_records = records
    all_labels = np.array([1 if r.label == "fake" else 0 for r in records])
    all_facts = np.array([feats[r.path]["facts"] for r in records])
    with_renders = confound_check(
        all_facts,
        all_labels,
        [r.split for r in records],
        name="confound (everything, with test-only renders)",
    )
    with_renders.gate = False
    # The gate is on the labelled training material; the render hard negatives are an eval-only group
    # of a different content kind (flat graphics), recorded just above.
    records = [r for r in records if not r.hard_negative]
    labels = np.array([1 if r.label == "fake" else 0 for r in records])
    splits = [r.split for r in records]
    facts = np.array([feats[r.path]["facts"] for r in records])
    sharp = np.array([feats[r.path]["sharp"] for r in records])
    checks = [
        confound_check(facts, labels, splits, name="confound (all fakes vs all real photos)"),
        with_renders,
    ]

    def subset(mask: np.ndarray) -> tuple[np.ndarray, list[str]]:
        return labels[mask], [s for s, m in zip(splits, mask, strict=True) if m]

    is_photo = np.array([r.family == "photo" for r in records])
    is_ai = np.array([r.family.startswith("ai_") for r in records])
    is_sim = np.array([r.family == "simulated" for r in records])
    for name, mask in (
        ("confound (AI images vs real photos)", is_photo | is_ai),
        ("confound (simulated vs real photos)", is_photo | is_sim),
    ):
        y, s = subset(mask)
        checks.append(confound_check(facts[mask], y, s, name=name))
    y, s = subset(is_photo | is_sim)
    checks.append(
        sharpness_check(
            sharp[is_photo | is_sim], y, s, name="sharpness (simulated vs real photos)", gate=False
        )
    )
    for family in sim.FAMILIES:
        mask = is_photo | np.array([r.class_name == family for r in records])
        y, s = subset(mask)
        checks.append(
            sharpness_check(sharp[mask], y, s, name=f"sharpness ({family} vs real photos)", gate=False)
        )
    y, s = subset(is_photo | is_ai)
    checks.append(
        sharpness_check(
            sharp[is_photo | is_ai], y, s, name="sharpness (AI images vs real photos)", gate=False
        )
    )
    checks.append(
        leakage_check(
            all_records,
            [int(feats[r.path]["phash"]) for r in all_records],
            [split_of[g] for g in groups],
            [r.phash for r in rendered],
        )
    )
    checks.append(count_check(all_records, list(sim.FAMILIES)))
    return checks
