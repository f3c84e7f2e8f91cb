"""make bench --suite detect (issue 12): the pure parts (statistics, inputs, tables); no stack is started."""

import csv
import io
import math
import os

import numpy as np
import pytest
from PIL import Image

from scripts.bench import detect as bench
from support.stack import detector_entry


def _answer(score, probs, elapsed=900.0, crops=5, status="ok"):
    """A /detect answer as the gateway gives it: ``probs`` maps detector name -> prob_fake (None abstains)."""
    return {
        "score_fake": score,
        "method": "average",
        "elapsed_ms": elapsed,
        "detectors": [
            {
                "name": name,
                "status": status if p is not None else "abstained",
                "prob_fake": p,
                "elapsed_ms": elapsed - 50,
                "details": {"crops": crops} if p is not None else {},
            }
            for name, p in probs.items()
        ],
    }


def test_percentiles_interpolate_between_ranks_and_empty_is_nan():
    assert bench.percentile([3.0, 1.0, 2.0, 4.0], 50) == pytest.approx(2.5)
    assert bench.percentile(list(range(11)), 90) == pytest.approx(9.0)
    assert bench.percentile([7.0], 90) == 7.0
    assert math.isnan(bench.percentile([], 50))
    s = bench.summarize([100.0, 200.0, 300.0])
    assert (s.n, s.p50, s.mean) == (3, 200.0, 200.0) and s.p90 == pytest.approx(280.0)


def test_format_gaps_compare_only_scores_both_answers_have():
    pairs = [
        (_answer(0.20, {"fft": 0.1, "meta": None}), _answer(0.26, {"fft": 0.2, "meta": None})),
        (_answer(0.50, {"fft": 0.5, "meta": 0.9}), _answer(0.48, {"fft": 0.4, "meta": None})),
    ]
    gaps = bench.format_gaps(pairs)
    assert list(gaps) == [bench.FUSED, "fft", "meta"]
    fused = gaps[bench.FUSED]
    assert fused.n == 2 and fused.mean == pytest.approx(0.04) and fused.max == pytest.approx(0.06)
    assert fused.over == 1 and fused.signed_mean == pytest.approx(0.02) and fused.missing == 0
    assert gaps["fft"].mean == pytest.approx(0.1) and gaps["fft"].signed_mean == pytest.approx(0.0)
    assert gaps["meta"].n == 0 and gaps["meta"].missing == 2 and math.isnan(gaps["meta"].mean)


def test_report_renders_latency_per_detector_and_gap_with_targets():
    default, three = bench.LatencyRun("5 (default)"), bench.LatencyRun("3")
    for ms in (800.0, 900.0, 1000.0):
        default.add(_answer(0.4, {"fft": 0.3, "clip": 0.5}, elapsed=ms - 20), ms)
    three.add(_answer(0.4, {"fft": 0.3, "clip": 0.5}, elapsed=500.0, crops=3), 520.0)
    three.errors.append("HTTP 503: no detector answered")
    pairs = [(_answer(0.2, {"fft": 0.1, "clip": 0.3}), _answer(0.3, {"fft": 0.1, "clip": 0.5}))]
    images = [bench.GapImage("abc123", "real", Image.new("RGB", (8, 8)))]
    result = bench.DetectResult(
        detectors=["fft", "clip"],
        threads="1",
        load_before=0.5,
        image_note="a generated texture",
        gap_note="1 image",
        runs=[default, three],
        gaps=bench.format_gaps(pairs),
        worst=bench.worst_pair(pairs, images),
        not_ready={"attribution_cnn": "weights missing"},
    )
    body = bench.report(result, bench.DetectPlan())
    rows = {line.split("|")[1].strip(): line for line in body.splitlines() if line.startswith("|")}
    cells = [c.strip() for c in rows["5 (default)"].strip("|").split("|")]
    assert cells == ["5 (default)", "3", "0", "900", "980", "900", "830", "830"]
    assert [c.strip() for c in rows["3"].strip("|").split("|")][1:3] == ["1", "1"]
    assert "| fft | ok 3 | 830 | 910 | 830 | 5 (3 answers) |" in body  # statuses, p50, p90, mean, crops
    assert "Target: `/detect` p50 ≤ 1000 ms: measured 900 ms — met" in body
    assert "TRIBUNAL_DETECT_PER_MINUTE=" in body and "TRIBUNAL_CPU_THREADS=1" in body
    assert "attribution_cnn was not ready" in body
    fused = [c.strip() for c in rows[bench.FUSED].strip("|").split("|")]
    assert fused == [bench.FUSED, "1", "0.100", "0.100", "1", "0.100", "0", "MISSED"]
    assert rows["fft"].rstrip().endswith("| met |") and rows["clip"].rstrip().endswith("| MISSED |")
    assert "Largest fused gap: abc123 (real): PNG 0.200, JPEG 0.300." in body


def test_a_slow_default_misses_the_latency_target():
    run = bench.LatencyRun("5 (default)")
    run.add(_answer(0.4, {"fft": 0.3}), 1200.0)
    body = bench.report(bench.DetectResult(["fft"], None, 0.0, runs=[run]), bench.DetectPlan())
    assert "measured 1200 ms — MISSED" in body and "libraries' default threads" in body
    assert "pessimistic" not in body
    busy = bench.report(bench.DetectResult(["fft"], None, 0.5, other_cpu=0.4, runs=[run]), bench.DetectPlan())
    assert "outside the bench used 40% of the CPU" in busy and "other work sharing the cores" in busy


def test_png_keeps_the_pixels_and_jpeg_is_q95_of_them():
    pixels = bench._texture(64, seed=3)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(bench.encode(pixels, "png")))), np.asarray(pixels))
    jpeg = Image.open(io.BytesIO(bench.encode(pixels, "jpeg")))
    assert jpeg.format == "JPEG" and jpeg.size == (64, 64)
    with pytest.raises(ValueError):
        bench.encode(pixels, "gif")


def _tiny_corpus(tmp_path, n=6):
    rows = []
    for i in range(n):
        side = 512 if i == 2 else 256
        path = tmp_path / "images" / f"{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        bench._texture(side, seed=i).save(path, quality=95)
        label = "real" if i % 2 == 0 else "fake"
        rows.append(
            {"path": f"images/{i}.jpg", "label": label, "source": f"s{i % 3}", "fold": str(i % 3),
             "stored_side": str(side), "sha256": str(i) * 64}
        )  # fmt: skip
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def test_inputs_come_from_the_corpus_or_say_they_are_generated(tmp_path):
    manifest = _tiny_corpus(tmp_path)
    data, note = bench.latency_image(manifest, side=128)
    assert Image.open(io.BytesIO(data)).size == (128, 128) and "images/2.jpg" in note and "resized" in note
    images, note = bench.gap_images(3, manifest)  # every 2nd row: 0, 2, 4
    assert [i.name for i in images] == [c * 12 for c in "024"] and [i.label for i in images] == ["real"] * 3
    assert "3 stored crops" in note and "0 AI, 3 real" in note and "256-512 px" in note

    data, note = bench.latency_image(tmp_path / "none.csv", side=96)
    assert Image.open(io.BytesIO(data)).size == (96, 96) and "generated" in note
    images, note = bench.gap_images(100, tmp_path / "none.csv")
    assert len(images) == 20 and "no imported corpus" in note


def test_the_stack_is_every_enabled_image_detector_with_make_starts_threads(tmp_path, monkeypatch):
    registry = tmp_path / "detectors.yaml"
    from scripts.local_stack import LocalStack

    video = detector_entry("video_thing", package="latency_probe", media_types=["video"])
    off = detector_entry("off_thing", package="latency_probe", enabled=False)
    LocalStack(registry_path=registry).write_registry(
        [detector_entry("metadata_provenance"), detector_entry("latency_probe"), video, off]
    )
    entries = bench.image_detectors(registry)
    assert [e["name"] for e in entries] == ["metadata_provenance", "latency_probe"]
    assert all(e["url"] == f"http://127.0.0.1:{e['port']}" for e in entries)
    monkeypatch.delenv("TRIBUNAL_CPU_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert bench.make_start_threads(registry) == "2"  # 6 cores over the 3 enabled detectors, video too
    monkeypatch.setenv("TRIBUNAL_CPU_THREADS", "5")
    assert bench.make_start_threads(registry) == "5"


@pytest.mark.integration
@pytest.mark.slow
def test_the_suite_runs_against_a_real_stack_of_light_detectors(tmp_path, monkeypatch):
    # Two cheap detectors instead of the trained ones: the stack start, both crop settings, the gap
    # pairs and the report, end to end in a few seconds.
    from scripts.local_stack import LocalStack

    monkeypatch.setenv("TRIBUNAL_PROBE_LATENCY_MS", "5")
    registry = tmp_path / "detectors.yaml"
    LocalStack(registry_path=registry).write_registry(
        [detector_entry("metadata_provenance"), detector_entry("latency_probe")]
    )
    plan = bench.DetectPlan(requests=3, warmup=1, compare_crops=(1,), compare_requests=2, gap_images=2)
    body = bench.run(plan=plan, log=lambda _: None, registry=registry)
    rows = {line.split("|")[1].strip(): line for line in body.splitlines() if line.startswith("|")}
    default = [
        c.strip() for c in rows[next(k for k in rows if k.endswith("(default)"))].strip("|").split("|")
    ]
    assert default[1:3] == ["3", "0"] and all(float(c) > 0 for c in default[3:])
    assert [c.strip() for c in rows["1"].strip("|").split("|")][1:3] == ["2", "0"]
    assert "Target: `/detect` p50 ≤ 1000 ms: measured" in body and "Not measured" not in body
    gap = [c.strip() for c in rows["latency_probe"].strip("|").split("|")]
    assert gap[1] in {"2", "20"} and float(gap[2]) <= 0.05  # its score is a pixel statistic
    assert rows["metadata_provenance"].split("|")[7].strip() == gap[1]  # abstains on both: left out
