"""Calibrate the default weights' faces mode on a labelled face corpus, out of fold.

``python -m detectors.video_vit.calibrate --corpus ../shared/corpus/manifest.csv``

1. Film every face image of the corpus (manifest rows under ``faces/``) the way training films its
   stills (clips.py: a slow pan/zoom with hand shake, then a real codec), after stepping the camera
   back (the still is padded with a blurred copy of its own edges, so a tight face crop shows a whole
   face as a video would), and run the detector's own pipeline on the clip: Haar faces, tracks,
   crops, the model's logit per face. A clip without a face track is an abstention, as in service.
2. Score every clip with the published rule (per-face sigmoid, mean per track, first track above
   0.55) under (a) the calibration the weights shipped with and (b) Platt scaling fitted out of
   fold: group k-fold by ``source_repo`` stratified by label, so every image of a source is scored
   by a calibration fitted on other sources only. With ``--head-epochs`` (default 8) the model's
   head is also retrained out of fold on the cached trunk features and compared by out-of-fold
   log-loss (it is reported, not shipped: the head is shared with "frames" mode).
3. If the out-of-fold ROC-AUC is below ``--min-auc`` (or the Platt slope is not positive: a higher
   logit would not mean a likelier fake) the weights cannot separate real from AI faces, and the
   detector must say so: the calibration is marked unreliable and the service
   squeezes its faces-mode probabilities into ``[0.5 - band, 0.5 + band]`` (inside the gateway's
   uncertainty band), with ``details.reliable = false`` and the reason.
4. Writes ``weights/<weights stem>.faces_calibration.json`` (fitted on every source; bound to the
   weights' sha256), pins its sha256 in detector.yaml, writes ``faces_calibration_report.json`` and
   rewrites MODEL_CARD.md with the figures on top.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.special import expit
from sklearn.model_selection import StratifiedGroupKFold

from detectors.common.calibration import PlattScaler
from detectors.common.evaluation import binary_ece, binary_log_loss, roc_auc
from detectors.common.training import pin_weight, progress
from detectors.video_vit.aggregate import track_score, video_score
from detectors.video_vit.clips import Focus, random_plan, temporary_clip
from detectors.video_vit.crops import to_tensor
from detectors.video_vit.faces import HaarFaceDetector
from detectors.video_vit.options import VideoVitOptions
from detectors.video_vit.pipeline import collect_faces
from detectors.video_vit.trainset import FACE_CLIP_SIZES, largest_face
from detectors.video_vit.weights import (
    Calibration,
    FacesCalibration,
    LoadedModel,
    faces_calibration_file,
    load_default,
)
from tribunal_sdk.media import file_sha256
from tribunal_sdk.video import VideoLimits, VideoProbe

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_CACHE = ROOT / "data" / "cache" / "video_vit_faces"
LABELS = {"real": 0, "ai": 1, "fake": 1}
# Thresholds the report counts real faces above: the decision point, the published video threshold
# (and the top of the gateway's default uncertainty band), and "confident".
SHARES_AT = (0.5, 0.6, 0.9)
# Bump when filming changes, so cached features are made again.
FILM_VERSION = "1"


# ---- the corpus ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceStill:
    path: Path
    label: int  # 1: AI-generated (or face-swapped)
    source: str  # the repository it came from: the unit every fold keeps whole
    generator: str


def read_corpus_faces(manifest: Path, prefix: str = "faces/") -> list[FaceStill]:
    """The manifest's rows under ``prefix`` (columns ``path``, ``label``, ``source_repo`` or ``source``)."""
    stills = []
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if prefix and not row["path"].startswith(prefix):
                continue
            label = row["label"].strip().lower()
            if label not in LABELS:
                raise ValueError(f"{manifest}: label must be one of {sorted(LABELS)}, got {label!r}")
            source = row.get("source_repo") or row.get("source")
            if not source:
                raise ValueError(f"{manifest}: row {row['path']} names no source_repo")
            stills.append(
                FaceStill(manifest.parent / row["path"], LABELS[label], source, row.get("generator") or "")
            )
    if not stills:
        raise ValueError(f"{manifest} has no rows under {prefix!r}")
    return stills


def assign_folds(labels: Sequence[int], sources: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Fold of every item: group k-fold by source, stratified by label (every source in one fold)."""
    n_sources = len(set(sources))
    if n_sources < k:
        raise ValueError(f"{n_sources} sources cannot fill {k} folds; use --folds {max(2, n_sources)}")
    folds = np.full(len(labels), -1)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, np.asarray(sources))):
        folds[test] = fold
    return folds


# ---- filming -------------------------------------------------------------------------------------


def step_back(image: np.ndarray, pad: float) -> np.ndarray:
    """The still with ``pad`` x its longer side added on every side, filled with a blurred mirror.

    Most corpus faces are tight crops (the face fills the picture, the chin or the brow cut off);
    the Haar cascade cannot find a face that leaves the frame, and no video is framed that tightly.
    The blur keeps the mirrored border from holding a second findable face. Real and AI stills go
    through the same padding, so it says nothing about the label.
    """
    if pad <= 0:
        return image
    h, w = image.shape[:2]
    p = round(pad * max(h, w))
    canvas = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REFLECT_101)
    canvas = cv2.GaussianBlur(canvas, (0, 0), max(1.0, max(canvas.shape[:2]) / 40))
    canvas[p : p + h, p : p + w] = image
    return canvas


@dataclass
class Filmed:
    """What the detector's pipeline made of one clip: its face crops and the track of each."""

    crops: list[np.ndarray]
    tracks: list[int]  # per crop, the track's rank (the order the video rule reads them in)
    frames: int
    faces_found: int


@contextlib.contextmanager
def film_clip(
    image: np.ndarray, detector: HaarFaceDetector, rng: np.random.Generator, pad: float
) -> Iterator[tuple[Path, VideoProbe]]:
    """A temporary clip over ``image`` as training films its stills, after stepping back ``pad``."""
    still = step_back(image, pad)
    box = largest_face(detector, still)
    focus = None
    if box is not None:
        x, y, w, h = box
        side = max(w, h)
        focus = Focus(x + w / 2, y + h / 2, 2.2 * side, 4.5 * side)
    plan = random_plan(rng, FACE_CLIP_SIZES)
    with temporary_clip(still, plan, rng, focus) as (path, probe):
        yield path, probe


def film(
    image: np.ndarray,
    detector: HaarFaceDetector,
    options: VideoVitOptions,
    rng: np.random.Generator,
    pad: float,
) -> Filmed:
    """A clip over ``image`` (``film_clip``) through the detector's own face pipeline."""
    with film_clip(image, detector, rng, pad) as (path, probe):
        found = collect_faces(
            path,
            probe,
            VideoLimits(),
            detector,
            n_frames=options.frames,
            max_tracks=options.max_tracks,
            min_track_fraction=options.min_track_fraction,
        )
    crops, tracks = [], []
    for rank, group in enumerate(found.groups):
        crops += group.inputs
        tracks += [rank] * len(group.inputs)
    return Filmed(crops, tracks, found.frames_sampled, found.faces_found)


@dataclass
class FaceSet:
    """Every scored face crop of every clip, as frozen-trunk features (one clip per still)."""

    sm: torch.Tensor  # (N, 1280, 7, 7) fp16
    lg: torch.Tensor  # (N, 24, 56, 56) fp16
    clip: np.ndarray  # (N,) index of the still the crop's clip was filmed from
    track: np.ndarray  # (N,) track rank within its clip

    def __len__(self) -> int:
        return len(self.clip)


def trunk_features(loaded: LoadedModel, crops: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen trunks' feature maps (eval mode: BatchNorm on its running statistics, as in service)."""
    with torch.inference_mode():
        sm, lg = loaded.model.eval().trunk_features(to_tensor(crops))
    return sm.half(), lg.half()


def build_face_set(
    stills: Sequence[FaceStill],
    loaded: LoadedModel,
    options: VideoVitOptions,
    seed: int,
    pad: float,
) -> FaceSet:
    """Film every still (one clip each, seeded per still) and cache the trunk features of its faces."""
    detector = HaarFaceDetector(detect_side=options.face_detect_side)
    sm_parts, lg_parts, clips, tracks = [], [], [], []
    for index, still in enumerate(progress(stills, "filming corpus faces", leave=True)):
        image = cv2.imread(str(still.path))
        if image is None:
            raise ValueError(f"cannot decode {still.path}")
        # A seed per still: a rerun on a grown manifest films the old stills the same way.
        digest = hashlib.sha256(f"{seed}:{still.path.name}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        filmed = film(image, detector, options, rng, pad)
        if filmed.crops:
            sm, lg = trunk_features(loaded, filmed.crops)
            sm_parts.append(sm)
            lg_parts.append(lg)
            clips += [index] * len(filmed.crops)
            tracks += filmed.tracks
    if not clips:
        raise ValueError("no face was found in any clip")
    return FaceSet(torch.cat(sm_parts), torch.cat(lg_parts), np.array(clips), np.array(tracks))


def cache_key(stills: Sequence[FaceStill], args: argparse.Namespace, options: VideoVitOptions) -> str:
    # The trunks are the frozen ImageNet Lite0 trunks in every default file, but key on the weights
    # anyway: a retrained trunk must never be read through a stale cache.
    parts = [
        FILM_VERSION,
        file_sha256(args.weights),
        str(args.seed),
        str(args.pad),
        options.model_dump_json(include={"frames", "max_tracks", "min_track_fraction", "face_detect_side"}),
        *(f"{s.path.name}:{s.path.stat().st_size}:{s.label}:{s.source}" for s in stills),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cached_face_set(
    stills: Sequence[FaceStill], loaded: LoadedModel, args: argparse.Namespace, options: VideoVitOptions
) -> FaceSet:
    """``build_face_set``, reusing ``<cache>/<key>.safetensors`` when a previous run left it."""
    path = None
    if args.cache is not None:
        path = args.cache / f"{cache_key(stills, args, options)}.safetensors"
        if path.is_file():
            t = load_file(str(path))
            print(f"trunk features from {path}")
            return FaceSet(t["sm"], t["lg"], t["clip"].numpy(), t["track"].numpy())
    faces = build_face_set(stills, loaded, options, args.seed, args.pad)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {
            "sm": faces.sm.contiguous(),
            "lg": faces.lg.contiguous(),
            "clip": torch.from_numpy(faces.clip.astype(np.int64)),
            "track": torch.from_numpy(faces.track.astype(np.int64)),
        }
        save_file(tensors, str(path))
    return faces


def face_logits(loaded: LoadedModel, faces: FaceSet, batch: int = 128) -> np.ndarray:
    """The model's raw logit for every face (everything after the trunks, on the cached features)."""
    model = loaded.model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(faces), batch):
            sl = slice(start, start + batch)
            out.append(model.head(faces.sm[sl].float(), faces.lg[sl].float())[:, 0].float())
    return torch.cat(out).numpy().astype(np.float64)


# ---- scoring -------------------------------------------------------------------------------------


def clip_scores(face_probs: np.ndarray, clip: np.ndarray, track: np.ndarray, n_clips: int) -> np.ndarray:
    """Each clip's video score by the detector's rule; NaN for a clip with no face (an abstention)."""
    scores = np.full(n_clips, np.nan)
    by_clip: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p, c, t in zip(face_probs, clip, track, strict=True):
        by_clip[int(c)][int(t)].append(float(p))
    for c, tracks in by_clip.items():
        scores[c] = video_score([track_score(tracks[t]) for t in sorted(tracks)])
    return scores


def shipped_probs(logits: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Per-face P(fake) under the calibration the weights were trained with (what the service said)."""
    return expit(calibration.scale * logits + calibration.bias)


def out_of_fold_platt(
    logits: np.ndarray, clip: np.ndarray, labels: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Per-face probabilities, each from a Platt scaler fitted on the faces of the other folds."""
    probs = np.full(len(logits), np.nan)
    fitted = []
    face_fold = folds[clip]
    face_label = labels[clip]
    for fold in sorted(set(folds.tolist())):
        train = face_fold != fold
        scaler = PlattScaler.fit(logits[train], face_label[train])
        held = face_fold == fold
        probs[held] = scaler(logits[held])
        fitted.append({"fold": int(fold), "a": scaler.a, "b": scaler.b})
    return probs, fitted


def figures(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AUC, ECE, log-loss and score shares over the clips that were scored (abstentions left out)."""
    scored = ~np.isnan(scores)
    y, s = labels[scored], scores[scored]
    real, fake = s[y == 0], s[y == 1]
    out: dict[str, Any] = {
        "clips_scored_real": len(real),
        "clips_scored_fake": len(fake),
        "roc_auc": _r(roc_auc(y, s)),
        "ece": _r(binary_ece(y, s, n_bins=10)),
        "log_loss": _r(binary_log_loss(y, s)),
        "real_mean": _r(real.mean() if len(real) else float("nan")),
        "fake_mean": _r(fake.mean() if len(fake) else float("nan")),
    }
    for at in SHARES_AT:
        out[f"real_at_or_above_{at}"] = _r((real >= at).mean() if len(real) else float("nan"))
        out[f"fake_at_or_above_{at}"] = _r((fake >= at).mean() if len(fake) else float("nan"))
    return out


def per_source(
    stills: Sequence[FaceStill], folds: np.ndarray, columns: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    """Per source: clips, abstentions, and for each scoring its mean, share >= 0.6, and AUC against
    every clip of the other label (how well this source alone is told apart)."""
    labels = np.array([s.label for s in stills])
    rows = []
    for source in sorted({s.source for s in stills}):
        for label in (0, 1):
            mine = np.array([s.source == source and s.label == label for s in stills])
            if not mine.any():
                continue
            row: dict[str, Any] = {
                "source": source,
                "label": "fake" if label else "real",
                "generator": sorted({s.generator for s, m in zip(stills, mine, strict=True) if m}),
                "fold": int(folds[mine][0]),
                "clips": int(mine.sum()),
            }
            for name, scores in columns.items():
                ok = mine & ~np.isnan(scores)
                row["scored"] = int(ok.sum())
                if not ok.any():
                    continue
                others = (labels != label) & ~np.isnan(scores)
                pair = ok | others
                row[f"{name}_mean"] = _r(scores[ok].mean())
                row[f"{name}_at_or_above_0.6"] = _r((scores[ok] >= 0.6).mean())
                row[f"{name}_auc_vs_other_label"] = _r(roc_auc(labels[pair], scores[pair]))
            rows.append(row)
    return rows


def _shown(path: Path) -> str:
    """A path as a reader of the card would type it from the repository root."""
    try:
        return os.path.relpath(path.resolve(), ROOT)
    except ValueError:
        return str(path)


def _r(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def out_of_fold_head(
    weights: Path,
    faces: FaceSet,
    labels: np.ndarray,
    sources: Sequence[str],
    folds: np.ndarray,
    epochs: int,
    seed: int,
) -> np.ndarray:
    """Per-face probabilities from the model's head retrained on the other folds' faces.

    Everything after the frozen trunks is fine-tuned from the shipped weights on the cached features
    (train.py's recipe); the epoch is chosen and a Platt scaler fitted on one source group of the
    training folds, never on the held-out fold.
    """
    from detectors.video_vit import train
    from detectors.video_vit.trainset import Sample

    samples = [Sample(None, int(labels[c]), "face", sources[c], str(c), "train") for c in faces.clip]
    cache = train.Cache(faces.sm, faces.lg)
    recipe = argparse.Namespace(epochs=epochs, lr=1e-3, batch=64, seed=seed)
    face_fold = folds[faces.clip]
    probs = np.full(len(faces), np.nan)
    for fold in sorted(set(folds.tolist())):
        rest = np.flatnonzero(folds != fold)
        inner = np.full(len(labels), -1)
        inner[rest] = assign_folds(labels[rest], [sources[c] for c in rest], 4, seed + 1)
        train_idx = np.flatnonzero((face_fold != fold) & (inner[faces.clip] != 0))
        val_idx = np.flatnonzero((face_fold != fold) & (inner[faces.clip] == 0))
        test_idx = np.flatnonzero(face_fold == fold)
        torch.manual_seed(seed + fold)  # dropout draws, so a rerun reproduces the figures
        model, _ = train.train_head(
            load_default(weights).model, cache, samples, train_idx, val_idx, recipe, f"head, fold {fold}"
        )
        scaler = PlattScaler.fit(train.logits_for(model, cache, val_idx), labels[faces.clip[val_idx]])
        probs[test_idx] = scaler(train.logits_for(model, cache, test_idx))
    return probs


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, required=True, help="manifest.csv of the labelled corpus")
    parser.add_argument("--prefix", default="faces/", help="only manifest paths starting with this")
    parser.add_argument(
        "--weights", type=Path, default=HERE / "weights" / "video_vit_small.safetensors",
        help="the default weights to calibrate (the calibration and card go beside them)",
    )  # fmt: skip
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pad", type=float, default=0.5, help="step back: padding per side / longer side")
    parser.add_argument("--min-auc", type=float, default=0.65, help="below this out-of-fold AUC: unreliable")
    parser.add_argument(
        "--band", type=float, default=0.09,
        help="an unreliable calibration keeps probabilities within 0.5 +/- this (the gateway's band is 0.1)",
    )  # fmt: skip
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="trunk-feature cache folder")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TRIBUNAL_TORCH_THREADS", "1")))
    parser.add_argument(
        "--head-epochs", type=int, default=8,
        help="also retrain the model's head out of fold for this many epochs and compare (0: skip)",
    )  # fmt: skip
    parser.add_argument("--no-pin", action="store_true", help="do not rewrite detector.yaml's sha256")
    parser.add_argument("--no-card", action="store_true", help="do not rewrite MODEL_CARD.md")
    args = parser.parse_args(argv)
    if args.no_cache:
        args.cache = None
    if not 0 < args.band < 0.5:
        parser.error("--band must lie in (0, 0.5)")
    return args


def decide(
    oof: dict[str, Any], platt: PlattScaler, min_auc: float, band: float, n_stills: int, n_sources: int
) -> tuple[bool, str]:
    """Can the weights be trusted on faces? Only when out of fold they rank AI above real faces
    (ROC-AUC at least ``min_auc``) and the fitted slope says a higher logit means more likely fake."""
    auc = oof["roc_auc"]
    if auc is not None and auc >= min_auc and platt.a > 0:
        return True, ""
    why = (
        f"ROC-AUC {auc}, below {min_auc}"
        if auc is None or auc < min_auc
        else "its fitted slope is not positive"
    )
    return False, (
        f"out of fold on {n_stills} corpus face images from {n_sources} sources these weights cannot "
        f"tell real from AI faces ({why}); faces-mode scores are held inside "
        f"[{0.5 - band:.2f}, {0.5 + band:.2f}]"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.time()
    torch.set_num_threads(args.threads)
    options = VideoVitOptions()
    stills = read_corpus_faces(args.corpus, args.prefix)
    labels = np.array([s.label for s in stills])
    n_sources = len({s.source for s in stills})
    folds = assign_folds(labels, [s.source for s in stills], args.folds, args.seed)
    weights_sha = file_sha256(args.weights)
    loaded = load_default(args.weights)
    loaded.model.eval()
    print(f"{len(stills)} face images ({int((labels == 0).sum())} real, {int(labels.sum())} AI) "
          f"from {n_sources} sources, {args.folds} folds by source")  # fmt: skip

    # 1. Film, find, crop; the model's logit per face; each clip's score as the weights shipped.
    faces = cached_face_set(stills, loaded, args, options)
    logits = face_logits(loaded, faces)
    n = len(stills)
    before = clip_scores(shipped_probs(logits, loaded.calibration), faces.clip, faces.track, n)

    # 2. Leave-source-out Platt; optionally a retrained head, compared by out-of-fold log-loss.
    oof_face_probs, fold_fits = out_of_fold_platt(logits, faces.clip, labels, folds)
    after = clip_scores(oof_face_probs, faces.clip, faces.track, n)
    oof = figures(labels, after)
    head = None
    if args.head_epochs > 0:
        head_probs = out_of_fold_head(
            args.weights, faces, labels, [s.source for s in stills], folds, args.head_epochs, args.seed
        )
        head = figures(labels, clip_scores(head_probs, faces.clip, faces.track, n))
        head["epochs"] = args.head_epochs
        head["beats_platt"] = bool(
            head["log_loss"] is not None
            and oof["log_loss"] is not None
            and head["log_loss"] < oof["log_loss"]
        )
        if head["beats_platt"]:
            # Not shipped automatically: the head is shared with "frames" mode, which this corpus
            # does not measure; retraining it is train.py's job.
            print("a retrained head beats Platt out of fold; retrain with train.py to ship it")
    platt = PlattScaler.fit(logits, labels[faces.clip])

    # 3. Trust it, or say it cannot separate and keep its answers inside the uncertainty band.
    reliable, reason = decide(oof, platt, args.min_auc, args.band, len(stills), n_sources)
    calibration = FacesCalibration(
        scale=platt.a,
        bias=platt.b,
        reliable=reliable,
        reason=reason,
        band=args.band,
        weights_sha256=weights_sha,
        oof_roc_auc=oof["roc_auc"],
        fitted_on=f"{len(stills)} corpus face images, {n_sources} sources, leave-source-out {args.folds} folds",
        date=dt.date.today().isoformat(),
    )
    # What the service answers, out of fold: the fold's Platt, then the squeeze if unreliable.
    served_faces = oof_face_probs if reliable else calibration.squeeze(oof_face_probs)
    served = clip_scores(served_faces, faces.clip, faces.track, n)

    generators: dict[str, int] = defaultdict(int)
    for s in stills:
        if s.label:
            generators[s.generator or "unknown"] += 1
    out_dir = args.weights.parent
    cal_path = out_dir / faces_calibration_file(args.weights.name)
    report = {
        "date": calibration.date,
        "corpus": str(args.corpus),
        "corpus_shown": _shown(args.corpus),
        "generators_shown": ", ".join(f"{g} {c}" for g, c in sorted(generators.items(), key=lambda x: -x[1])),
        "calibration_file": cal_path.name,
        "prefix": args.prefix,
        "weights": args.weights.name,
        "weights_sha256": weights_sha,
        "stills": {"real": int((labels == 0).sum()), "fake": int(labels.sum())},
        "sources": n_sources,
        "folds": args.folds,
        "seed": args.seed,
        "pad": args.pad,
        "faces_scored": len(faces),
        "min_auc": args.min_auc,
        "reliable": reliable,
        "reason": reason,
        "before": figures(labels, before),
        "oof_platt": oof,
        "oof_head": head,
        "served_oof": figures(labels, served),
        "fold_fits": fold_fits,
        "fold_sources": {
            int(f): sorted({s.source for s, g in zip(stills, folds, strict=True) if g == f})
            for f in sorted(set(folds.tolist()))
        },
        "calibration": calibration.to_json_dict(),
        "per_source": per_source(stills, folds, {"before": before, "served": served}),
        "in_sample_final": figures(
            labels, clip_scores(calibration.apply(logits), faces.clip, faces.track, n)
        ),
        "seconds": round(time.time() - started),
    }

    # 4. The calibration beside the weights (pinned), the raw report, the card.
    calibration.save(cal_path)
    (out_dir / "faces_calibration_report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not args.no_pin:
        pin_weight(HERE / "detector.yaml", cal_path.name, file_sha256(cal_path))
    if not args.no_card:
        from detectors.video_vit.model_card import rewrite_faces_section

        rewrite_faces_section(out_dir / "MODEL_CARD.md", report)
    keys = ("before", "oof_platt", "oof_head", "served_oof", "reliable", "reason")
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    print(f"wrote {cal_path} in {report['seconds']} s")
    return report


if __name__ == "__main__":
    main()
