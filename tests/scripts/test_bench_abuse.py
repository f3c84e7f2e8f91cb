"""make bench --suite abuse (issue 13): the pure parts (RSS reading, rounds, verdicts, report); no stack."""

from __future__ import annotations

import time

import pytest

from scripts.bench import abuse
from scripts.bench.__main__ import SUITES

MB = abuse.MB


def test_the_suite_is_registered():
    title, runner = SUITES["abuse"]
    assert runner is abuse.run and "issue 13" in title


def test_read_rss_reads_vmrss_and_a_gone_process_is_zero(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tpython\nVmHWM:\t  900000 kB\nVmRSS:\t  123456 kB\n")
    assert abuse.read_rss(42, proc=tmp_path) == 123456 * 1024
    assert abuse.read_rss(43, proc=tmp_path) == 0
    assert abuse.read_rss(abuse.os.getpid()) > 10 * MB  # this very process, from the real /proc


def test_the_sampler_records_every_process_until_stopped():
    values = {1: 100, 2: 200}
    with abuse.RssSampler({"gateway": 1, "fft": 2}, interval_s=0.01, reader=values.__getitem__) as sampler:
        time.sleep(0.08)
        values[2] = 500
        time.sleep(0.05)
    series = sampler.series
    assert series.names == ["gateway", "fft"] and len(series.times) >= 3
    assert series.rows[0] == [100, 200] and series.peak() == [100, 500]
    assert sampler.snapshot(0, 1e9).totals()[-1] == 600


def _window(totals_mb: list[float], start: float = 10.0, step: float = 1.0) -> abuse.RssSeries:
    series = abuse.RssSeries(["gateway", "clip"])
    for i, total in enumerate(totals_mb):
        series.add(start + i * step, [int(100 * MB), int((total - 100) * MB)])
    return series


def test_a_round_reports_its_peak_rise_return_time_and_residual():
    baseline = [100 * MB, 900 * MB]  # 1000 MB in all
    window = _window([1000, 1800, 2200, 1500, 1150, 1090, 1040])  # t = 10..16, the burst over at t = 12.5
    outcomes = [abuse.Outcome(200, 2.4), abuse.Outcome(503, 2.0, "over_memory_budget", "3")]
    r = abuse.summarise_round("8 huge", outcomes, baseline, window, t0=10.0, t1=12.5)
    assert r.peak_rise == pytest.approx(1200 * MB)
    assert r.back_within_s == pytest.approx(15.0 - 12.5)  # the first sample within 100 MB after the burst
    assert r.residual_total == pytest.approx(40 * MB)
    assert r.timeline.times[0] == 0.0 and r.peak == [100 * MB, 2100 * MB]
    assert abuse.verdicts(r) == {"peak": True, "return": True, "answers": True}


def test_targets_are_missed_by_a_slow_answer_an_unclear_failure_a_high_peak_or_no_return():
    baseline = [100 * MB, 900 * MB]
    window = _window([1000, 2600, 2600, 2600])
    slow = [abuse.Outcome(200, 5.5)]
    r = abuse.summarise_round("x", slow, baseline, window, t0=10.0, t1=11.0)
    assert abuse.verdicts(r) == {"peak": False, "return": False, "answers": False}
    assert r.back_within_s is None
    for outcome in (abuse.Outcome(500, 1.0, "internal_error"), abuse.Outcome(0, 1.0, "ReadError: reset")):
        assert not outcome.clear_refusal
    assert abuse.Outcome(503, 2.0, "over_memory_budget").clear_refusal
    assert abuse.Outcome(413, 0.1, "too_many_pixels").clear_refusal


def test_the_report_names_targets_processes_and_rss_over_time():
    baseline = [100 * MB, 900 * MB]
    window = _window([1000, 1800, 1100, 1050])
    outcomes = [
        abuse.Outcome(200, 2.4, detector_statuses=(("clip", "ok"),), detector_ms=(("clip", 2100.0),)),
        abuse.Outcome(503, 2.0, "over_memory_budget", "3"),
    ]
    r = abuse.summarise_round("8 concurrent 39.6 MP PNGs", outcomes, baseline, window, t0=10.0, t1=11.5)
    result = abuse.AbuseResult(
        detectors=["clip"],
        threads="1",
        budget="memory budget 400 MB",
        images={"png": "6000x6600"},
        rounds=[r],
        load_before=0.4,
        other_cpu=0.01,
    )
    body = abuse.report(result, abuse.AbusePlan())
    assert "| 8 concurrent 39.6 MP PNGs | 200 x1, 503 over_memory_budget x1 | 2.4 | 800 | 0.5 s |" in body
    assert "peak met, return met, answers met" in body
    assert "| clip | 900 | 1,700 | 800 | 950 |" in body  # baseline, peak, rise, end of the window
    assert "clip 2.1 s" in body and "Retry-After: 3" in body
    assert "| 0-1 | 0 | 0 | 0 |" in body and "| 1-2 | 0 | 800 | 800 |" in body


def test_the_huge_images_are_what_the_issue_sent():
    images = abuse.huge_images(size=(600, 660))  # the real run uses 6000x6600
    png, jpeg = images["png"][0], images["jpeg"][0]
    assert png.startswith(b"\x89PNG") and jpeg.startswith(b"\xff\xd8")
    assert "600x660" in images["png"][1]
