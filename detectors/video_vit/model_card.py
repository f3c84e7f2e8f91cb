"""weights/MODEL_CARD.md, written by train.py from its own figures (so the card never drifts from the file).

calibrate.py owns the section between the FACES_START and FACES_END markers, right under the title:
the out-of-fold figures on the corpus faces. train.py leaves a placeholder there (new weights are
not calibrated on faces until calibrate.py runs, and the service treats them as unreliable).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

FACES_START = "<!-- faces-calibration: written by python -m detectors.video_vit.calibrate -->"
FACES_END = "<!-- /faces-calibration -->"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _report_rows(name: str, report: dict[str, Any]) -> str:
    return (
        f"| {name} | {report['clips_real']} / {report['clips_fake']} | {_fmt(report['input_auc'])} | "
        f"{_fmt(report['clip_auc'])} | {_fmt(report['clip_accuracy_at_0.5'])} | "
        f"{_fmt(report['real_clips_called_fake'])} | {_fmt(report['fake_clips_called_fake'])} |"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _shares(figures: dict[str, Any]) -> str:
    return (
        f"{_fmt(figures['roc_auc'])} | {_fmt(figures['ece'])} | {_fmt(figures['log_loss'])} | "
        f"{_fmt(figures['real_at_or_above_0.5'])} | {_fmt(figures['real_at_or_above_0.6'])} | "
        f"{_fmt(figures['real_at_or_above_0.9'])} | {_fmt(figures['fake_at_or_above_0.6'])}"
    )


def faces_section(report: dict[str, Any] | None) -> str:
    """The card's lead section: what calibrate.py measured on the corpus faces (or that it has not)."""
    if report is None:
        body = (
            "## On real and AI faces\n\n"
            "**Not measured.** These weights have not been calibrated on a labelled face corpus, so the "
            "service treats faces mode as unreliable: every face score is held inside the gateway's "
            "uncertainty band around 0.5 and `details.reliable` is false. Run "
            "`python -m detectors.video_vit.calibrate --corpus <manifest.csv>` to measure them."
        )
        return f"{FACES_START}\n{body}\n{FACES_END}"
    before, oof, served = report["before"], report["oof_platt"], report["served_oof"]
    cal = report["calibration"]
    low, high = 0.5 - cal["band"], 0.5 + cal["band"]
    n_real, n_fake = report["stills"]["real"], report["stills"]["fake"]
    if report["reliable"]:
        verdict = (
            f"Out of fold it separates these real faces from these AI faces with ROC-AUC "
            f"{_fmt(oof['roc_auc'])}; its calibrated faces-mode scores are probabilities on clips like "
            "these (still photos filmed by a virtual camera). That is all it was measured on: it says "
            "nothing about face swaps, re-enactment or generated video, which it has never seen."
        )
    else:
        slopes = [f["a"] for f in report.get("fold_fits", [])]
        slope_note = ""
        if slopes and max(abs(a) for a in slopes) < 0.1 and np.median(slopes) <= 0.01:
            below = oof["roc_auc"] is not None and oof["roc_auc"] < 0.5
            slope_note = (
                f" The Platt slope fitted on each fold's training sources lies between {min(slopes):.3f} "
                f"and {max(slopes):.3f}: near zero{' and mostly negative' if np.median(slopes) < 0 else ''}, "
                "so a higher logit does not mean a likelier fake, and the out-of-fold scores mostly "
                "reflect the share of real and AI faces in the sources each was fitted on"
                f"{' (hence an AUC below 0.5)' if below else ''}."
            )
        verdict = (
            f"**It cannot tell a real face from an AI-generated one.** On these faces the model's own "
            f"ranking has ROC-AUC {_fmt(before['roc_auc'])} and the leave-source-out calibration "
            f"{_fmt(oof['roc_auc'])} (chance is 0.5; the bar for trusting it is {report['min_auc']})."
            f"{slope_note} As the weights shipped, {_pct(before['real_at_or_above_0.6'])} of the real "
            f"faces' clips scored 0.6 or more. The service therefore holds every faces-mode score inside "
            f"[{low:.2f}, {high:.2f}], which the gateway reports as `uncertain`, and says "
            "`reliable: false` with the reason in `details`.\n\n"
            "What it can be trusted for in faces mode: finding frontal faces, tracking them, and "
            "abstaining (`no_face`) when there is none. What it cannot: its score is not evidence that "
            "a face is real or fake, either way. For real use configure the published weights "
            "(below), which this calibration does not touch."
        )
    head = report.get("oof_head")
    head_row = (
        f"| tried: the model's head retrained, leave-source-out ({head['epochs']} epochs; not shipped) | "
        f"{_shares(head)} |\n"
        if head
        else ""
    )
    rows = []
    for r in report["per_source"]:
        rows.append(
            f"| {r['source']} | {r['label']} | {', '.join(r['generator'])} | {r['fold']} | "
            f"{r['clips']} | {r['scored']} | {_fmt(r.get('before_mean'))} | "
            f"{_fmt(r.get('before_at_or_above_0.6'))} | {_fmt(r.get('before_auc_vs_other_label'))} | "
            f"{_fmt(r.get('served_mean'))} | {_fmt(r.get('served_at_or_above_0.6'))} |"
        )
    per_source = "\n".join(rows)
    squeeze = "used as it is" if report["reliable"] else f"squeezed linearly into [{low:.2f}, {high:.2f}]"
    served_name = "as served now" + (
        "" if report["reliable"] else f" (Platt, then held inside [{low:.2f}, {high:.2f}])"
    )
    measured = " ".join(
        [
            f"Measured {report['date']} with",
            f"`python -m detectors.video_vit.calibrate --corpus {report['corpus_shown']}`:",
            f"{n_real} real face photos and {n_fake} AI-generated faces ({report['generators_shown']})",
            f"from {report['sources']} source repositories. Each image was filmed into a short clip the",
            "way training films its stills (the camera stepped back so the whole face is in view, a slow",
            "pan/zoom with hand shake, a real codec) and scored by the detector's own pipeline (Haar",
            "faces, tracks, crops, the published video rule);",
            f"{before['clips_scored_real']} of the {n_real} real and {before['clips_scored_fake']} of the",
            f"{n_fake} AI clips had a face track (the others abstain with `no_face`, as in service, and",
            "are left out). Every figure below is **out of fold, leave-source-out**:",
            f"{report['folds']} folds by `source_repo`, stratified by label; each clip is scored by a",
            "calibration fitted on the other folds' sources only.",
        ]
    )
    body = f"""## On real and AI faces, out of fold (read this first)

{verdict}

{measured}

| per clip (video) | ROC-AUC | ECE | log-loss | real >= 0.5 | real >= 0.6 | real >= 0.9 | AI >= 0.6 |
|---|---|---|---|---|---|---|---|
| before: the calibration the weights shipped with | {_shares(before)} |
| Platt, leave-source-out | {_shares(oof)} |
| {served_name} | {_shares(served)} |
{head_row}
"real >= 0.6": the share of real faces' clips scored at or above 0.6 (the top of the gateway's
default uncertainty band, and the published model's decision threshold). Shipped calibration:
`sigmoid({cal["scale"]:.4f} * logit + {cal["bias"]:.4f})` per face, fitted on every source, then
{squeeze} (`{report["calibration_file"]}`, pinned in detector.yaml and bound to the weights' sha256).

Per source ("AUC vs other label": this source's clips against every clip of the other label under
the shipped calibration, i.e. how the raw model ranks them; 0.5 means this source is scored like
the other class; "as served": out of fold, as the service now answers):

| source | label | generator | fold | clips | scored | mean before | >= 0.6 before | AUC vs other label | mean as served | >= 0.6 as served |
|---|---|---|---|---|---|---|---|---|---|---|
{per_source}

Raw figures: `faces_calibration_report.json` beside this card."""
    return f"{FACES_START}\n{body}\n{FACES_END}"


def rewrite_faces_section(card: Path, report: dict[str, Any] | None) -> None:
    """Put ``faces_section(report)`` under the card's title, replacing any earlier one.

    When ``training_report.json`` beside the card describes the same weights, the whole card is
    rendered again from it (so every part of it is this module's current text); otherwise only the
    section is replaced.
    """
    training_report = card.parent / "training_report.json"
    if report is not None and training_report.is_file():
        summary = json.loads(training_report.read_text())
        if summary.get("sha256") == report.get("weights_sha256"):
            card.write_text(render(summary, report))
            return
    text = card.read_text()
    section = faces_section(report)
    pattern = re.compile(re.escape(FACES_START) + r".*?" + re.escape(FACES_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{section}\n{rest}"
    card.write_text(text)


def render(summary: dict[str, Any], faces_report: dict[str, Any] | None = None) -> str:
    training = summary["training"]
    folds = summary["face_leave_one_person_out"]
    frames = summary["frames_benchmark_test"]
    rows = [
        _report_rows(f"faces, {person} held out (trained on the other)", f["test_on_held_out_person"])
        for person, f in folds.items()
    ]
    rows.append(_report_rows("whole frames, benchmark test split", frames))
    table = "\n".join(rows)
    by_source = "\n".join(f"| {k} | {v:.3f} |" for k, v in frames["mean_prob_by_source"].items())
    samples = "\n".join(f"| {k} | {v} |" for k, v in training["samples"].items())
    face_aucs = [f["test_on_held_out_person"]["clip_auc"] for f in folds.values()]
    face_aucs = [a for a in face_aucs if a is not None]
    mean_face_auc = sum(face_aucs) / len(face_aucs) if face_aucs else None
    if mean_face_auc is None or mean_face_auc < 0.6:
        face_verdict = (
            "**Cannot** tell a self-blended face of a person it has not seen from the real face: on the "
            f"held-out person the clip AUC is {_fmt(mean_face_auc)} (chance is 0.5). What it learned about "
            "faces does not carry over from one person to another; in faces mode its score means nothing."
        )
    else:
        face_verdict = (
            "Can, weakly, tell a self-blended face (colour/blur/offset mismatch inside a soft face mask) "
            f"from the same face unblended, on clips like its training clips: held-out-person clip AUC "
            f"{_fmt(mean_face_auc)}, measured on one person per fold."
        )
    frames_auc = frames["clip_auc"]
    frames_verdict = (
        f"On the benchmark's held-out test split its whole-frame clip AUC is {_fmt(frames_auc)}: the AI "
        "stills there differ from the photos in ways it picks up, through camera motion and re-encoding."
    )
    benchmark = summary["args"]["benchmark"]
    if benchmark.rstrip("/").endswith("data/benchmark"):
        benchmark_note = "Split by scene as the benchmark splits them."
    else:
        benchmark_note = (
            "**Interim**: `data/benchmark` had not been built when these weights were trained, so this "
            "was a stand-in made with the benchmark package's own finders (`find_real_photos`, "
            "`find_comfy_stills`; render hard negatives left out) and normaliser (`plan_and_render`, "
            "`encode_jpeg`), split 6/2/2 by a hash of the scene key. Retrain on the real set with "
            "`make benchmark && make train-detector NAME=video_vit`."
        )
    return f"""# video_vit default weights: `{summary["file"]}`

{faces_section(faces_report)}

**Read this before trusting a score.** These weights were trained in {training["seconds"]["total"] / 60:.0f}
minutes on a 2-core CPU from the few offline assets this project has. They show that the pipeline and
the architecture work end to end; they are not a deepfake detector anyone should act on. For real
use, configure the published `cross_efficient_vit.pth` (EfficientNet-B0 branches, trained on DFDC;
AUC 0.951 on the DFDC test set as published) with `TRIBUNAL_VIDEO_VIT_PUBLISHED_WEIGHTS` and
`TRIBUNAL_VIDEO_VIT_PUBLISHED_SHA256`.

- file: `{summary["file"]}`, {summary["bytes"] / 1e6:.1f} MB (fp16 safetensors; config, calibration and
  this training note are in its metadata), sha256 `{summary["sha256"]}`
- trained: {training["date"]}, seed {training["seed"]}, `python -m detectors.video_vit.train`
  (`make train-detector NAME=video_vit`); samples {training["seconds"]["samples"]} s, trunk features
  {training["seconds"]["features"]} s, total {training["seconds"]["total"]} s

## What it is

Cross-Efficient-ViT (Coccomini et al., ICIAP 2022) in a smaller configuration (`model.DEFAULT`):
the same two-branch design (one EfficientNet branch tapped after its head, 1280 x 7 x 7; one tapped
after block 2, 24 x 56 x 56), the same multi-scale encoder with CLS cross-attention and the same two
summed heads, but

| | published | this default |
|---|---|---|
| branches | EfficientNet-B0 (SE, swish), fine-tuned | EfficientNet-Lite0 (no SE, ReLU6), ImageNet weights, **frozen** |
| why | | no EfficientNet-B0 weights install offline; Lite0's are the only ImageNet EfficientNet here |
| tokens per branch | 1 patch (7x7 and 56x56) | 49 patches (1x1 and 8x8) |
| dims sm / lg | 192 / 384 | 128 / 160 |
| encoder | depth 4; sm 2 layers, lg 3; cross 2; 8 heads, 2048 MLP | depth 1; 1, 1; cross 1; 4 heads, 256/320 MLP |
| input | raw BGR 0-255 | raw BGR 0-255 (the model flips to RGB and scales to [-1, 1] inside, for Lite0) |
| parameters | 101 M (406 MB fp32) | {summary["bytes"] / 2 / 1e6:.1f} M (fp16 file) |

The detector's pipeline is the published one either way (30 frames, Haar faces, 3 tracks, square
crops, isotropic resize + pad to 224, per-face sigmoid, mean per track, first track above 0.55 else
mean of tracks). Per-face logits pass through Platt scaling fitted on the validation split
(scale {training["calibration"]["scale"]}, bias {training["calibration"]["bias"]}), so 0.5 is its decision point;
in faces mode the corpus-faces calibration at the top of this card replaces it.

## Training data

All of it made here, all of it through a real video codec (MPEG-4 Part 2, Motion-JPEG, Xvid or VP8,
chosen at random per clip regardless of label) after a slow pan/zoom/roll with hand shake over a
still:

- **faces** (the "faces" mode): the only real photographs of frontal faces among the offline sources
  that the Haar cascade finds: **{", ".join(training["face_people"])}** (two people). Half of the clips
  are self-blended first (Shiohara & Yamasaki, CVPR 2022: a colour-, sharpness- and position-altered
  copy of the photo blended back over the face through a soft, deformed elliptical mask; no landmark
  model is available offline, so the mask is an ellipse on the Haar box). Faces are found and cropped
  by the detector's own code. Label: self-blended = fake.
- **whole frames** (the "frames" mode): clips over 256x256 benchmark patches (real photos vs AI
  images), from `{benchmark}`. {benchmark_note}

| domain/split/label | inputs |
|---|---|
{samples}

## Test figures

Clip = one video: its inputs' probabilities averaged. Faces: leave-one-person-out (train on one
person's clips, test on the other's; the shipped model is then trained on both). Frames: the
benchmark's test split.

| test set | clips real / fake | input AUC | clip AUC | clip accuracy @0.5 | real clips called fake | fake clips called fake |
|---|---|---|---|---|---|---|
{table}

Mean probability by benchmark source (test split, whole frames):

| source (label) | mean P(fake) |
|---|---|
{by_source}

## What it can and cannot be trusted for

- **Can**: exercising the service, the gateway's video path and the published pipeline end to end.
- {face_verdict}
- **Cannot**: detecting real-world deepfakes. It has seen two faces and no face-swap, reenactment or
  fully synthetic video; its face figures measure one held-out person each, a sample far too small to
  say anything general. Real face-swap artefacts, other compression (H.264/H.265 at social-media
  bit rates), profile faces, poor light and many faces per frame were never seen.
- {frames_verdict}
- **Cannot**: judging AI-generated video from whole frames beyond what the benchmark's still images
  teach; its frame figures are on 256x256 stills filmed by a virtual camera, not on generated video.
  The benchmark is small (DATA.md: ~140 AI source images) and its test split overstates real-world
  quality.
- A video without a detectable frontal face gets `no_face` (abstention) in "faces" mode, never a score.

Raw figures: `training_report.json` beside this card.

```json
{json.dumps(training, indent=2)}
```
"""
