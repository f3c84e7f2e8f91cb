"""Drift (gateway/drift.py): live score windows against the training reference, by PSI over quantile bins.

The component is fed streams directly; the gateway tests send real /detect requests to fake detectors whose
scores are drawn from a distribution, and read GET /stats/drift and /metrics.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.drift import (
    DriftMonitor,
    DriftSettings,
    ReferenceLoader,
    References,
    StreamReference,
    psi,
    quantile_bins,
)
from gateway.schemas import DetectionAnswer
from meta_learner.artifacts import ScoreHistogram, ScoreReference
from support.oof import write_oof_file
from tribunal_sdk.client import DetectorOutcome, DetectorStatus

SETTINGS = DriftSettings(window=500, min_window=200, threshold=0.25, bins=10)


def reference_scores(seed: int = 0, n: int = 2000) -> np.ndarray:
    """What a detector scored in training: mostly low, a tail towards fake (Beta(2, 5))."""
    return np.random.default_rng(seed).beta(2, 5, n)


def shifted_scores(seed: int, n: int) -> np.ndarray:
    """A new source the model was not trained on: the mass moves up (Beta(5, 2))."""
    return np.random.default_rng(seed).beta(5, 2, n)


def stream_reference(scores, source: str = "test") -> StreamReference:
    return StreamReference.of(ScoreHistogram.of(scores), source, SETTINGS.bins)


def monitor(references: dict[str, StreamReference], fused=None, settings=SETTINGS) -> DriftMonitor:
    refs = References(detectors=references, fused=fused or {}, origin="test")
    return DriftMonitor(settings, list(references), refs)


def by_name(report) -> dict:
    return {s.name: s for s in [*report.detectors, *report.fused]}


# --- the statistic --------------------------------------------------------------------------------


def test_quantile_bins_hold_about_equal_reference_mass():
    histogram = ScoreHistogram.of(reference_scores())
    groups = quantile_bins(histogram, 10)
    reference = StreamReference(histogram, "x", groups)
    counts = reference.coarse_counts
    assert len(counts) == 10 and sum(counts) == 2000
    assert all(150 <= c <= 250 for c in counts), counts
    assert groups == sorted(groups)  # contiguous ranges of scores


def test_a_point_mass_keeps_one_bin_and_every_bin_holds_reference_mass():
    # 60 % of the scores are exactly 0 (a detector that mostly says "nothing here"), the rest spread thinly.
    scores = [0.0] * 600 + list(np.linspace(0.3, 0.9, 400))
    reference = stream_reference(scores)
    counts = reference.coarse_counts
    assert counts[0] == 600
    assert all(c > 0 for c in counts)
    assert len(counts) <= 10


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_moved_one():
    assert psi([100, 100, 100], [1000, 1000, 1000]) == pytest.approx(0.0, abs=1e-12)
    assert psi([10, 90, 200], [1000, 1000, 1000]) > 0.25
    # Empty bins stay finite.
    assert math.isfinite(psi([0, 0, 300], [1000, 1000, 1000]))


# --- the component ---------------------------------------------------------------------------------


def test_an_unshifted_stream_stays_quiet():
    reference = reference_scores(seed=0)
    for seed in range(1, 21):  # many windows sampled from the reference itself: none raises a drift
        watch = monitor({"clip": stream_reference(reference)})
        for score in np.random.default_rng(seed).choice(reference, SETTINGS.window):
            watch.observe_detector("clip", DetectorStatus.OK, float(score))
        (stream,) = watch.report().detectors
        assert stream.state == "ok", (seed, stream.statistic)
        assert stream.statistic < SETTINGS.threshold / 2


def test_a_shifted_stream_is_named_as_drifted():
    watch = monitor(
        {"clip": stream_reference(reference_scores()), "fft": stream_reference(reference_scores(1))}
    )
    for clip, fft in zip(
        shifted_scores(2, 300), np.random.default_rng(3).choice(reference_scores(1), 300), strict=True
    ):
        watch.observe_detector("clip", "ok", float(clip))
        watch.observe_detector("fft", "ok", float(fft))
    report = watch.report()
    streams = by_name(report)
    assert report.state == "drifted" and report.drifted == ["clip"]
    assert streams["clip"].state == "drifted" and streams["clip"].statistic > 1.0
    assert streams["clip"].reason.startswith("PSI ") and "at or over 0.25" in streams["clip"].reason
    assert streams["fft"].state == "ok"
    assert streams["clip"].window_mean > 0.6 > 0.35 > streams["clip"].reference_mean


def test_a_small_window_says_insufficient_data():
    watch = monitor({"clip": stream_reference(reference_scores())})
    for score in shifted_scores(4, SETTINGS.min_window - 1):  # shifted, but too few to judge
        watch.observe_detector("clip", "ok", float(score))
    report = watch.report()
    (stream,) = report.detectors
    assert stream.state == "insufficient_data" and stream.statistic is None
    assert stream.window_size == 199 and stream.min_window == 200
    assert "199 of the 200" in stream.reason
    assert report.state == "insufficient_data" and report.drifted == []
    watch.observe_detector("clip", "ok", 0.99)
    assert watch.report().detectors[0].state == "drifted"  # the 200th score brings the verdict


def test_the_window_rolls_and_a_stream_recovers():
    reference = reference_scores()
    watch = monitor({"clip": stream_reference(reference)})
    for score in shifted_scores(5, SETTINGS.window):
        watch.observe_detector("clip", "ok", float(score))
    assert watch.report().detectors[0].state == "drifted"
    for score in np.random.default_rng(6).choice(reference, SETTINGS.window):
        watch.observe_detector("clip", "ok", float(score))
    stream = watch.report().detectors[0]
    assert stream.state == "ok" and stream.window_size == SETTINGS.window


def test_without_a_reference_there_is_no_verdict():
    refs = References(detectors={}, fused={}, origin="none")
    watch = DriftMonitor(SETTINGS, ["meta"], refs)
    for score in shifted_scores(7, 300):
        watch.observe_detector("meta", "ok", float(score))
    (stream,) = watch.report().detectors
    assert stream.state == "insufficient_data" and stream.reference_size == 0
    assert "no reference" in stream.reason


def test_abstention_and_error_rates_over_the_window():
    watch = monitor(
        {"meta": stream_reference(reference_scores())}, settings=DriftSettings(window=10, min_window=10)
    )
    statuses = ["ok"] * 4 + ["abstained"] * 3 + ["timeout", "error", "unavailable"]
    for status in statuses:
        watch.observe_detector("meta", status, 0.2 if status == "ok" else None)
    watch.observe_detector("meta", "skipped", None)  # not asked: not a call
    (stream,) = watch.report().detectors
    assert stream.calls == 10 and stream.window_size == 4
    assert stream.abstention_rate == pytest.approx(0.3) and stream.error_rate == pytest.approx(0.3)
    assert stream.reference_abstention_rate == 0.0


def answer(
    scores: dict[str, float | None], fused: float | None, method="average", media="image", **kw
) -> DetectionAnswer:
    outcomes = []
    for name, p in scores.items():
        status = kw.get("statuses", {}).get(name, "ok" if p is not None else "abstained")
        outcomes.append(DetectorOutcome(name=name, status=DetectorStatus(status), prob_fake=p))
    return DetectionAnswer(
        id="x",
        sha256="0" * 64,
        media_type=media,
        verdict="uncertain",
        score_fake=fused,
        confidence=None,
        method=method,
        threshold=kw.get("threshold", 0.5),
        attribution=None,
        detectors=outcomes,
        degraded=False,
        missing=[],
        warnings=[],
        elapsed_ms=1.0,
    )


def test_answers_feed_the_detectors_and_the_fusion_actually_used():
    fused_ref = {
        "average": stream_reference(reference_scores(8)),
        "voting": stream_reference(reference_scores(9)),
    }
    watch = monitor(
        {"a": stream_reference(reference_scores()), "b": stream_reference(reference_scores(1))}, fused_ref
    )
    watch.observe(answer({"a": 0.2, "b": None}, 0.2))
    watch.observe(answer({"a": 0.3, "b": 0.5}, 0.4, method="average (stacking unavailable: no artifact)"))
    watch.observe(answer({"a": 0.3, "b": 0.5}, 0.5, method="voting"))
    watch.observe(answer({"a": 0.3, "b": 0.5}, 0.5, method="voting", threshold=0.7))  # another threshold
    watch.observe(answer({"a": 0.3, "b": 0.5}, 0.3, statuses={"b": "skipped"}))  # a subset of the detectors
    watch.observe(answer({"a": None, "b": None}, None))  # nothing to fuse
    watch.observe(answer({"a": 0.9, "b": 0.9}, 0.9, media="video"))  # not watched
    streams = by_name(watch.report())
    assert streams["a"].window_size == 5 and streams["a"].calls == 6
    assert streams["b"].window_size == 3 and streams["b"].calls == 5  # twice abstained, once skipped
    assert streams["fused:average"].window_size == 2
    assert streams["fused:voting"].window_size == 1


def test_an_unused_fusion_is_left_out_but_the_default_is_always_shown():
    refs = References(detectors={}, fused={"stacking": stream_reference(reference_scores())}, origin="t")
    report = DriftMonitor(SETTINGS, ["a"], refs, default_method="average").report()
    assert [f.name for f in report.fused] == ["fused:average"]
    assert report.fused[0].reference_size == 0


# --- where the reference comes from ---------------------------------------------------------------


def shas(n: int) -> list[str]:
    return [f"{i:064x}" for i in range(n)]


def oof_files(detectors_dir: Path, n: int = 2000) -> dict[str, dict[str, float | None]]:
    """Out-of-fold answers of a and b on the same n images (b abstains on every tenth)."""
    a = dict(zip(shas(n), reference_scores(0, n).tolist(), strict=True))
    b = {
        sha: (None if i % 10 == 0 else float(p))
        for i, (sha, p) in enumerate(zip(shas(n), reference_scores(1, n), strict=True))
    }
    write_oof_file(detectors_dir, "a", a)
    write_oof_file(detectors_dir, "b", b)
    return {"a": a, "b": b}


def loader(gw, tmp_path: Path, **settings) -> ReferenceLoader:
    settings.setdefault("meta_learner_dir", tmp_path / "artifacts")
    settings.setdefault("drift_detectors_dir", tmp_path / "detectors")
    return ReferenceLoader(
        gw.settings(data_dir=tmp_path / "data", **settings), gw.registry("a", "b", "c"), 10
    )


def test_without_an_artifact_reference_the_detectors_out_of_fold_answers_are_used(gw, tmp_path):
    answers = oof_files(tmp_path / "detectors")
    refs = loader(gw, tmp_path).load()
    assert set(refs.detectors) == {"a", "b"}  # c publishes nothing
    assert refs.detectors["a"].histogram == ScoreHistogram.of(answers["a"].values())
    assert refs.detectors["b"].histogram.abstained == 200 and refs.detectors["b"].size == 1800
    assert refs.detectors["a"].source == str(tmp_path / "detectors/a/weights/oof_answers.json")
    # The fused reference for average: the mean of the detectors' out-of-fold P(fake) per image.
    means = [
        (answers["a"][sha] + answers["b"][sha]) / 2 if answers["b"][sha] is not None else answers["a"][sha]
        for sha in shas(2000)
    ]
    assert refs.fused["average"].histogram == ScoreHistogram.of(means)
    assert set(refs.fused) == {"average", "voting"}  # stacking's needs make retrain
    assert "none for c" in refs.origin and refs.version is None


def deploy_reference(root: Path, version: str, reference: ScoreReference) -> None:
    directory = root / "image" / version
    directory.mkdir(parents=True)
    (directory / "reference.json").write_text(reference.model_dump_json())
    (root / "image" / "deployed.json").write_text(
        json.dumps({"version": version, "deployed_at": "2026-12-01T00:00:00Z"})
    )


def test_the_deployed_meta_learners_reference_wins_and_is_reloaded_on_redeploy(gw, tmp_path):
    oof_files(tmp_path / "detectors")
    root = tmp_path / "artifacts"
    first = ScoreReference(
        source="out-of-fold answers on corpus.csv",
        detectors={"a": ScoreHistogram.of(shifted_scores(1, 500))},
        fused={"stacking": ScoreHistogram.of(shifted_scores(2, 500))},
    )
    deploy_reference(root, "20261201-000000", first)
    load = loader(gw, tmp_path)
    refs = load.load()
    assert refs.version == "20261201-000000"
    assert refs.detectors["a"].histogram == first.detectors["a"]
    assert refs.detectors["a"].source.startswith("meta-learner image/20261201-000000 (reference.json)")
    assert refs.detectors["b"].source.endswith("b/weights/oof_answers.json")  # not in the artifact: its file
    assert set(refs.fused) == {"stacking"}
    assert load.reload(refs) is None  # nothing changed

    second = first.model_copy(update={"detectors": {"a": ScoreHistogram.of(reference_scores(3, 700))}})
    deploy_reference(root, "20261202-000000", second)
    newer = load.reload(refs)
    assert newer is not None and newer.version == "20261202-000000"
    assert newer.detectors["a"].size == 700


def test_an_unreadable_artifact_reference_falls_back_to_the_out_of_fold_answers(gw, tmp_path):
    oof_files(tmp_path / "detectors")
    root = tmp_path / "artifacts"
    (root / "image" / "v1").mkdir(parents=True)
    (root / "image" / "v1" / "reference.json").write_text("{not json")
    (root / "image" / "deployed.json").write_text(
        json.dumps({"version": "v1", "deployed_at": "2026-12-01T00:00:00Z"})
    )
    refs = loader(gw, tmp_path).load()
    assert set(refs.detectors) == {"a", "b"} and set(refs.fused) == {"average", "voting"}


# --- through the gateway ----------------------------------------------------------------------------


def drawn(scores: np.ndarray):
    """A fake detector answering with the next of ``scores`` on each call."""
    it = iter(scores.tolist())

    async def behave(request: httpx.Request) -> httpx.Response:
        body = {"detector": request.url.host, "version": "1.0", "prob_fake": next(it), "elapsed_ms": 1.0}
        return httpx.Response(200, json=body)

    return behave


WINDOW = 200


def drift_settings(tmp_path: Path) -> dict:
    return {
        "drift_window": WINDOW,
        "drift_min_window": WINDOW,
        "drift_detectors_dir": tmp_path / "detectors",
        "meta_learner_dir": tmp_path / "artifacts",
        "detect_per_minute": 0,
    }


async def send(client: httpx.AsyncClient, png: bytes, n: int) -> None:
    for _ in range(n):
        response = await client.post("/detect", files={"file": ("x.png", png, "image/png")})
        assert response.status_code == 200, response.text


def drift_metrics(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("detector", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("tribunal_gateway_drift_")
    }


async def test_a_shifted_detector_raises_the_warning_in_stats_drift_and_the_metric(
    fakes, gateway_client, gw, png, tmp_path
):
    answers = oof_files(tmp_path / "detectors")
    rng = np.random.default_rng(11)
    fakes.set("a", drawn(shifted_scores(12, WINDOW)))  # a new kind of image: a scores it far higher
    fakes.set("b", drawn(rng.choice([p for p in answers["b"].values() if p is not None], WINDOW)))
    async with gateway_client(gw.registry("a", "b"), **drift_settings(tmp_path)) as client:
        await send(client, png, WINDOW - 1)
        early = (await client.get("/stats/drift")).json()
        assert early["state"] == "insufficient_data" and early["drifted"] == []
        assert {d["name"]: d["window_size"] for d in early["detectors"]} == {"a": WINDOW - 1, "b": WINDOW - 1}

        await send(client, png, 1)
        response = await client.get("/stats/drift")
        assert response.status_code == 200
        report = response.json()
        streams = {s["name"]: s for s in [*report["detectors"], *report["fused"]]}
        assert report["state"] == "drifted" and "a" in report["drifted"] and "b" not in report["drifted"]
        assert report["statistic"] == "psi" and report["threshold"] == 0.25
        a, b = streams["a"], streams["b"]
        assert a["state"] == "drifted" and a["statistic"] >= 0.25
        assert (a["window_size"], a["reference_size"], a["min_window"]) == (WINDOW, 2000, WINDOW)
        assert (a["abstention_rate"], a["error_rate"]) == (0.0, 0.0)
        assert b["state"] == "ok" and b["statistic"] < 0.25 and b["reference_abstention_rate"] == 0.1
        assert streams["fused:average"]["window_size"] == WINDOW  # the fused score moved with a

        metrics = drift_metrics((await client.get("/metrics")).text)
        assert metrics[("tribunal_gateway_drift_alert", "a")] == 1.0
        assert metrics[("tribunal_gateway_drift_alert", "b")] == 0.0
        assert metrics[("tribunal_gateway_drift_score", "a")] == pytest.approx(a["statistic"])
        assert metrics[("tribunal_gateway_drift_window_size", "a")] == WINDOW
        assert metrics[("tribunal_gateway_drift_error_ratio", "b")] == 0.0
        assert metrics[("tribunal_gateway_drift_threshold", "")] == 0.25


async def test_an_unshifted_stream_through_the_gateway_stays_quiet(fakes, gateway_client, gw, png, tmp_path):
    answers = oof_files(tmp_path / "detectors")
    rng = np.random.default_rng(21)
    for name in ("a", "b"):
        fakes.set(name, drawn(rng.choice([p for p in answers[name].values() if p is not None], WINDOW)))
    async with gateway_client(gw.registry("a", "b"), **drift_settings(tmp_path)) as client:
        await send(client, png, WINDOW)
        report = (await client.get("/stats/drift")).json()
        assert report["state"] == "ok" and report["drifted"] == []
        assert all(s["state"] == "ok" for s in [*report["detectors"], *report["fused"]])
        metrics = drift_metrics((await client.get("/metrics")).text)
        assert metrics[("tribunal_gateway_drift_alert", "a")] == 0.0
        assert metrics[("tribunal_gateway_drift_alert", "fused:average")] == 0.0


async def test_failures_and_abstentions_count_in_the_rates_and_without_data_the_metrics_still_exist(
    fakes, gateway_client, gw, png, tmp_path
):
    fakes.set("a", fakes.ok(0.4))
    fakes.set("b", fakes.abstain())
    async with gateway_client(gw.registry("a", "b", "c"), **drift_settings(tmp_path)) as client:
        await send(client, png, 3)  # c is not there at all: unavailable
        report = (await client.get("/stats/drift")).json()
        streams = {s["name"]: s for s in report["detectors"]}
        assert streams["b"]["abstention_rate"] == 1.0 and streams["b"]["window_size"] == 0
        assert streams["c"]["error_rate"] == 1.0 and streams["c"]["calls"] == 3
        assert all(s["state"] == "insufficient_data" for s in streams.values())
        assert report["reference"] == "none for a, b, c"
        metrics = drift_metrics((await client.get("/metrics")).text)
        assert math.isnan(metrics[("tribunal_gateway_drift_score", "a")])
        assert metrics[("tribunal_gateway_drift_alert", "a")] == 0.0


async def test_stats_drift_needs_an_identity_like_stats(auth_gateway):
    async with auth_gateway() as client:
        assert (await client.get("/stats/drift")).status_code == 401
        assert (await client.get("/stats")).status_code == 401
