"""make soak (issue 13, part 7): the plan, the schedule and the figures, then a tiny soak of a real stack.

The tiny soak runs ``python -m scripts.launcher start`` (the `make start` code path) on two light
detectors, kills one detector and the gateway, and checks that the report's figures are computed:
0 5xx, 0 lost rows, both kills timed, RSS sampled per process.
"""

from __future__ import annotations

import sqlite3
import struct

import pytest
import yaml

from scripts.bench import soak
from scripts.bench.soak import Outcome, Restart, Sample, SoakOptions
from support.stack import detector_entry
from tribunal_sdk.errors import MalformedRequest
from tribunal_sdk.requests import decode_base64


def test_the_plan_is_a_function_of_seed_and_n():
    options = SoakOptions(requests=400, seed=7, pool_size=4)
    pool, again = soak.image_pool(7, 4), soak.image_pool(7, 4)
    assert [p.data for p in pool] == [p.data for p in again]
    specs = soak.plan_requests(options)
    assert specs == soak.plan_requests(options)
    fingerprint = soak.plan_fingerprint(specs, pool)
    assert fingerprint == soak.plan_fingerprint(soak.plan_requests(options), again)
    other = soak.plan_requests(SoakOptions(requests=400, seed=8, pool_size=4))
    assert soak.plan_fingerprint(other, soak.image_pool(8, 4)) != fingerprint
    # The same request builds the same bytes every time.
    for spec in specs[:60]:
        assert soak.build(spec, pool) == soak.build(spec, again)

    malformed = [s for s in specs if s.malformed]
    assert 0.14 < len(malformed) / len(specs) < 0.26  # the default 20 %
    assert {s.kind for s in malformed} == set(soak.MALFORMED_KINDS)
    assert {s.kind for s in specs if not s.malformed} == set(soak.VALID_KINDS)
    assert 0.04 < sum(s.bearer for s in specs) / len(specs) < 0.16


def test_malformed_payloads_are_what_their_kind_says():
    pool = soak.image_pool(3, 6)
    specs = soak.plan_requests(SoakOptions(requests=600, seed=3, pool_size=6, malformed=1.0))
    by_kind: dict[str, list] = {}
    for spec in specs:
        by_kind.setdefault(spec.kind, []).append(spec)
    for spec in by_kind["truncated"]:
        assert 8 <= len(soak.payload(spec, pool)) < len(pool[spec.image].data)
    for spec in by_kind["huge_dimensions"]:
        data = soak.payload(spec, pool)
        assert len(data) < 40_000
        if data.startswith(b"\x89PNG"):
            width, height = struct.unpack(">II", data[16:24])
            assert width * height > 40_000_000  # over the gateway's default pixel cap
    assert soak.payload(by_kind["empty"][0], pool) == b""
    for spec in by_kind["bad_base64"]:
        with pytest.raises(MalformedRequest):
            decode_base64(soak.build(spec, pool).json_body["data"])
    missing = soak.build(by_kind["missing_file"][0], pool)
    assert missing.files is not None and "file" not in missing.files
    wrong = {soak.build(s, pool).path for s in by_kind["wrong_content_type"]}
    assert wrong == {"/detect", "/predict"}


def test_the_schedule_kills_detectors_round_robin_and_the_gateway_once():
    options = SoakOptions(requests=1300, detector_kills=6, gateway_restart_at=0.5)
    actions = soak.schedule(options, ["a", "b", "c", "d", "e"])
    assert [a.target for a in actions] == ["a", "b", "c", "gateway", "d", "e", "a"]
    assert [a.at_request for a in actions] == [100, 300, 500, 650, 700, 900, 1100]
    for k in range(1, 5):  # a detector kill does not land on the gateway's request
        ats = [a.at_request for a in soak.schedule(SoakOptions(requests=40, detector_kills=k), ["a"])]
        assert len(ats) == k + 1 and ats.count(20) == 1
    only = soak.schedule(
        SoakOptions(requests=40, detector_kills=2, kill=("b",), gateway_restart_at=None), ["a", "b"]
    )
    assert [a.target for a in only] == ["b", "b"]


def _series(service: str, pid: int, start: float, end: float, mb, step: float = 5.0) -> list[Sample]:
    out, t = [], start
    while t <= end:
        out.append(Sample(t, service, pid, mb(t)))
        t += step
    return out


def test_rss_flatness_compares_the_first_minute_after_warm_up_with_the_last_of_the_longest_life():
    samples = _series("flat", 1, 0, 600, lambda t: 500 + (200 if t < 60 else 0))  # warm-up spike ignored
    samples += _series("leaky", 2, 0, 600, lambda t: 400 + t / 4)  # +150 MB over the run
    # Killed at 100 s: the second life (100-600 s) is the one compared.
    samples += _series("restarted", 3, 0, 95, lambda t: 900)
    samples += _series("restarted", 4, 100, 600, lambda t: 300)
    flat = {f.service: f for f in soak.rss_flatness(samples, warmup_s=60, window_s=60)}
    assert flat["flat"].flat and flat["flat"].change == pytest.approx(0.0)
    assert not flat["leaky"].flat and flat["leaky"].change == pytest.approx(543.125 / 421.875 - 1)
    assert flat["restarted"].lives == 2 and flat["restarted"].first_mb == 300 and flat["restarted"].flat
    assert flat["restarted"].peak_mb == 300
    # A short life is cut in quarters instead.
    short = soak.rss_flatness(_series("x", 5, 0, 20, lambda t: 100 + t, step=1), 60, 60)[0]
    assert short.window_s == 5 and short.first_mb < short.last_mb


def _history(tmp_path, ids_by_user: dict[str, list[str]]):
    path = tmp_path / "tribunal.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT)")
        db.execute("CREATE TABLE analyses (id TEXT PRIMARY KEY, user_id INTEGER)")
        for user_id, (name, ids) in enumerate(ids_by_user.items(), start=1):
            db.execute("INSERT INTO users VALUES (?, ?)", (user_id, name))
            db.executemany("INSERT INTO analyses VALUES (?, ?)", [(i, user_id) for i in ids])
    return path


def _ok(index: int, answer_id: str, sent_s: float = 1.0, **kw) -> Outcome:
    return Outcome(index, "valid_detect", "/detect", False, sent_s, 100.0, 200, answer_id=answer_id, **kw)


def test_lost_rows_are_200_answers_without_their_row(tmp_path):
    database = _history(tmp_path, {"soak": ["a", "b", "x"], "someone": ["y"]})
    outcomes = [
        _ok(0, "a"),
        _ok(1, "b"),
        _ok(2, "c"),  # no row: lost
        _ok(3, "a"),  # the same id twice
        _ok(4, "d", warnings=["not saved to the history: OperationalError"]),
        Outcome(5, "garbage", "/detect", False, 1.0, 3.0, 415, error="unsupported_media_type"),
    ]
    rows = soak.check_rows(outcomes, database)
    assert rows.lost == ["c", "d"] and rows.answers_200 == 5 and rows.distinct_ids == 4
    assert (rows.rows, rows.duplicate_ids, rows.unanswered_rows) == (4, 1, 2)  # x, y
    assert (rows.history_warnings, rows.other_users) == (1, 1)


def test_5xx_and_connection_errors_are_counted_apart(tmp_path):
    outcomes = [
        _ok(0, "a", answered_by=["det"]),
        Outcome(1, "valid_detect", "/detect", False, 10.5, 2.0, None, error="connection"),  # gateway down
        Outcome(2, "truncated", "/detect", False, 30.0, 2.0, None, error="connection"),  # gateway up
        Outcome(3, "valid_predict", "/predict", False, 31.0, 40.0, 503, body='{"error": "x"}'),
        _ok(4, "b", sent_s=12.0, answered_by=["det"]),
        _ok(5, "c", sent_s=22.5, answered_by=[]),
        _ok(6, "d", sent_s=23.0, answered_by=["det"]),
    ]
    restarts = [
        Restart("gateway", 10, killed_s=10.0, old_pid=1, back_s=1.5),
        Restart("det", 20, killed_s=22.0, old_pid=2, back_s=0.5),
    ]
    soak.attach_answer_times(restarts, outcomes)
    assert restarts[0].in_answers_s == pytest.approx(2.1)  # the first 200 sent after the kill
    assert restarts[1].in_answers_s == pytest.approx(1.1)  # the first answer that includes det
    events = [
        {"event": "recovered", "service": "gateway", "down_s": 1.7},
        {"event": "failed", "service": "det"},
        {"event": "recovered", "service": "det", "down_s": 0.9},
    ]
    soak.attach_supervisor_times(restarts, events)
    assert [r.supervisor_down_s for r in restarts] == [1.7, 0.9]
    result = soak.SoakResult(
        options=SoakOptions(requests=7),
        fingerprint="f" * 64,
        detectors=["det"],
        outcomes=outcomes,
        restarts=restarts,
        samples=[Sample(0.0, "gateway", 1, 100.0)],
        duration_s=40.0,
        rows=soak.check_rows(outcomes, _history(tmp_path, {"soak": ["a", "b", "c", "d"]})),
        flatness=[],
        supervision={"services": {"gateway": {"restarts": 1}, "det": {"restarts": 2}}},
        launcher_exit=0,
        load_before=1.0,
        load_after=1.0,
    )
    figures = result.figures()
    assert (figures["server_errors"], figures["lost_rows"], figures["connection_errors"]) == (1, 0, 2)
    assert figures["connection_errors_outside_gateway_down"] == 1
    assert result.unexplained_restarts == {"det": 1}
    report = soak.render(result)
    assert "| 5xx answers | 1 | 0 |" in report
    assert "**5xx**: request 3 (valid_predict, /predict)" in report
    assert "**1 while it was up**" in report
    assert "det +1" in report


@pytest.mark.integration
def test_a_tiny_soak_of_the_supervised_stack_computes_its_figures(tmp_path):
    registry = tmp_path / "detectors.yaml"
    # Two probes, so an answer without the killed one takes as long as one with it.
    entries = [detector_entry("latency_probe"), detector_entry("steady_probe", package="latency_probe")]
    registry.write_text(yaml.safe_dump({"detectors": entries}, sort_keys=False))
    options = SoakOptions(
        requests=40,
        concurrency=2,
        detector_kills=1,
        kill=("latency_probe",),
        gateway_restart_at=0.5,
        rss_interval_s=0.5,
        registry=registry,
        restart_timeout_s=60,
        start_timeout_s=90,
        # Half a second a request, so the run outlasts both restarts; no meta-learner to load (stacking
        # averages), which would hold the new gateway's first requests for seconds.
        env={"TRIBUNAL_PROBE_LATENCY_MS": "500", "TRIBUNAL_META_LEARNER_DIR": str(tmp_path / "none")},
    )
    result = soak.run(options, log=print)
    figures = result.figures()
    print(soak.render(result))

    assert figures["aborted"] is None and figures["requests"] == 40
    assert figures["server_errors"] == 0, [o.body for o in result.server_errors]
    assert figures["lost_rows"] == 0 and figures["timeouts"] == 0
    assert figures["answers_200"] > 10 and result.rows.rows >= figures["answers_200"]
    assert result.rows.other_users == 0  # every row is the soak account's: auth was on
    assert {o.status for o in result.outcomes if o.malformed} - {None} <= {400, 413, 415, 422}

    # Both kills happened and were timed; the launcher restarted each once and stopped cleanly.
    assert [(r.target, r.at_request) for r in result.restarts] == [("latency_probe", 13), ("gateway", 20)]
    for restart in result.restarts:
        assert restart.killed_s is not None and restart.back_s is not None, restart
        assert restart.back_s < 30 and restart.new_pid not in (None, restart.old_pid)
        assert restart.in_answers_s is not None and restart.supervisor_down_s is not None
    services = result.supervision["services"]
    assert {n: s["restarts"] for n, s in services.items()} == {
        "latency_probe": 1,
        "steady_probe": 0,
        "gateway": 1,
    }
    assert result.launcher_exit == 0
    gateway_back = result.restarts[1].killed_s + result.restarts[1].back_s
    assert any(o.status == 200 and o.sent_s > gateway_back for o in result.outcomes)
    assert figures["connection_errors_outside_gateway_down"] == 0

    # RSS sampled for every process, across both lives of the killed ones.
    by_service = {f.service: f for f in result.flatness}
    assert set(by_service) == {"latency_probe", "steady_probe", "gateway", "launcher"}
    assert by_service["gateway"].lives == 2 and by_service["latency_probe"].lives == 2
    # (the last window's mean of equal samples can exceed their maximum by a rounding error)
    assert all(f.first_mb > 10 and f.peak_mb >= f.last_mb - 1e-6 for f in by_service.values()), by_service

    report = soak.render(result)
    assert "| 5xx answers | 0 | 0 |" in report and "| lost rows" in report
    assert "TRIBUNAL_DETECT_PER_MINUTE` raised" in report
    assert "### Status codes by kind of request" in report and "### RSS over time" in report
