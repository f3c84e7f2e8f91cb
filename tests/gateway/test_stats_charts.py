"""What the dashboard's Stats page charts and the history and drift aggregates alone do not give
(gateway/routes/stats.py): verdicts per day in the viewer's days, each detector's agreement with the
fused verdict, and the live score histogram against the reference on GET /stats/drift.

Verdicts per day run on SQLite here and on a real PostgreSQL server (running in +05:45, so a date taken
in the server's zone would be wrong) where one can be started.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest

from gateway.auth.identity import ANONYMOUS
from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.db.models import Analysis, DetectorResult
from gateway.drift import StreamReference
from gateway.history.queries import HistoryFilters
from gateway.routes.stats import score_bins, stats_overview
from meta_learner.artifacts import ScoreHistogram
from support.oof import write_oof_file

# 2026-03-01 22:30 UTC: still the 1st in London, already the 2nd at UTC+2, the 1st at UTC-5.
LATE = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)


def analysis(created_at: datetime, verdict: str, results: dict[str, tuple[str, float | None]]) -> Analysis:
    """An unowned analysis (what auth-off traffic records) with one row per detector: (status, P(fake))."""
    row = Analysis(
        id=uuid.uuid4().hex,
        user_id=None,
        created_at=created_at,
        sha256=secrets.token_hex(32),
        size_bytes=10,
        media_type="image",
        verdict=verdict,
        score_fake=0.5,
        confidence=0.5,
        method="average",
        threshold=0.5,
        detectors=[],
        degraded=False,
        missing=[],
        warnings=[],
        elapsed_ms=5.0,
    )
    row.detector_results = [
        DetectorResult(detector=name, status=status, prob_fake=p, elapsed_ms=3.0)
        for name, (status, p) in results.items()
    ]
    return row


def fill(db: Database) -> None:
    ok = ("ok", 0.9)
    with db.session() as session:
        session.add_all(
            [
                analysis(LATE - timedelta(days=1), "real", {"a": ("ok", 0.2), "b": ok}),
                analysis(LATE, "fake", {"a": ("ok", 0.8), "b": ("ok", 0.1)}),
                analysis(LATE + timedelta(minutes=10), "fake", {"a": ("ok", 0.5), "b": ("timeout", None)}),
                analysis(LATE + timedelta(hours=3), "uncertain", {"a": ("ok", 0.55), "b": ok}),
                analysis(LATE + timedelta(hours=3), "real", {"a": ("abstained", None), "b": ok}),
            ]
        )


def days(overview) -> dict[str, dict[str, int]]:
    return {d.day.isoformat(): d.by_verdict for d in overview.by_day}


def check_days(db: Database) -> None:
    with db.session() as session:
        utc = stats_overview(session, ANONYMOUS, HistoryFilters())
        east = stats_overview(session, ANONYMOUS, HistoryFilters(), 120)
        west = stats_overview(session, ANONYMOUS, HistoryFilters(), -300)
    assert days(utc) == {
        "2026-02-28": {"real": 1},
        "2026-03-01": {"fake": 2},
        "2026-03-02": {"uncertain": 1, "real": 1},
    }
    assert days(east) == {"2026-03-01": {"real": 1}, "2026-03-02": {"fake": 2, "uncertain": 1, "real": 1}}
    assert days(west) == {"2026-02-28": {"real": 1}, "2026-03-01": {"fake": 2, "uncertain": 1, "real": 1}}
    assert [d.total for d in utc.by_day] == [1, 2, 2] and east.utc_offset_minutes == 120
    assert [d.day for d in utc.by_day] == sorted(d.day for d in utc.by_day)


def test_verdicts_per_day_start_at_the_viewers_offset(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'history.db'}")
    upgrade(db.engine)
    try:
        fill(db)
        check_days(db)
    finally:
        db.dispose()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_verdicts_per_day_on_postgresql_ignore_the_servers_time_zone():
    from support.postgres import running_postgres

    with running_postgres() as server:
        db = Database(server.create_database("t_" + secrets.token_hex(6)))
        upgrade(db.engine)
        try:
            fill(db)
            check_days(db)
            with db.session() as session:
                agreement = {
                    d.name: d.agreement
                    for d in stats_overview(session, ANONYMOUS, HistoryFilters()).detectors
                }
            assert (agreement["a"].compared, agreement["a"].agreed) == (3, 3)
        finally:
            db.dispose()


async def test_stats_answer_agreement_with_the_fused_verdict_and_days(gateway_client, gw, tmp_path):
    async with gateway_client(gw.registry("a", "b")) as client:
        fill(client.app.state.gateway.db)
        response = await client.get("/stats", params={"utc_offset_minutes": 120})
        assert response.status_code == 200
        stats = response.json()
        too_far = await client.get("/stats", params={"utc_offset_minutes": 24 * 60})
        assert too_far.status_code == 422

    # What /stats answered before is all still there.
    assert stats["total"] == 5 and stats["by_verdict"] == {"fake": 2, "real": 2, "uncertain": 1}
    by_name = {d["name"]: d for d in stats["detectors"]}
    assert by_name["b"]["failure_rate"] == 0.2 and by_name["a"]["latency_ms"]["p50"] == 3.0
    # a: 0.2 on a real one, 0.8 and 0.5 (at the threshold) on fake ones; its 0.55 on the uncertain one
    # and its abstention are not compared.
    assert by_name["a"]["agreement"] == {"compared": 3, "agreed": 3, "rate": 1.0}
    # b: 0.9 on two real ones and 0.1 on a fake one, all against; it timed out on the other fake one.
    assert by_name["b"]["agreement"] == {"compared": 3, "agreed": 0, "rate": 0.0}
    assert stats["utc_offset_minutes"] == 120
    assert stats["by_day"] == [
        {"day": "2026-03-01", "total": 1, "by_verdict": {"real": 1}},
        {"day": "2026-03-02", "total": 4, "by_verdict": {"fake": 2, "uncertain": 1, "real": 1}},
    ]


def test_the_histogram_bins_are_the_psi_bins():
    rng = np.random.default_rng(0)
    reference = StreamReference.of(ScoreHistogram.of(rng.beta(2, 5, 2000)), "test", 10)
    live = rng.beta(5, 2, 40).tolist()
    bins = score_bins(reference, live)
    assert len(bins.edges) == 11 and bins.edges[0] == 0 and bins.edges[-1] == 1
    assert bins.edges == sorted(bins.edges)
    assert bins.reference == pytest.approx([c / 2000 for c in reference.coarse_counts])
    assert bins.window == pytest.approx([c / 40 for c in reference.live_counts(live)])
    assert sum(bins.window) == pytest.approx(1) and bins.window_size == 40
    assert all(0.07 < share < 0.13 for share in bins.reference)  # deciles of the reference
    assert score_bins(reference, []).window is None

    # A point mass keeps its own (narrow) bin.
    spiky = StreamReference.of(ScoreHistogram.of([0.0] * 500 + rng.uniform(0, 1, 500).tolist()), "t", 10)
    spiky_bins = score_bins(spiky, [0.0, 0.001])
    assert spiky_bins.edges[:2] == [0.0, 0.01] and spiky_bins.reference[0] > 0.5
    assert spiky_bins.window[0] == 1.0


def drawn(scores: Iterator[float]):
    async def behave(request: httpx.Request) -> httpx.Response:
        body = {"detector": request.url.host, "version": "1", "prob_fake": next(scores), "elapsed_ms": 1.0}
        return httpx.Response(200, json=body)

    return behave


async def test_stats_drift_answers_the_live_histogram_against_the_reference(
    fakes, gateway_client, gw, png, tmp_path
):
    write_oof_file(tmp_path / "detectors", "a", np.random.default_rng(0).uniform(0.1, 0.45, 400))
    live = [0.9, 0.92, 0.3, 0.95, 0.91]
    fakes.set("a", drawn(iter(live)))
    fakes.set("b", fakes.ok(0.4))  # no reference for b
    settings = {
        "drift_window": 20,
        "drift_min_window": 20,
        "drift_detectors_dir": tmp_path / "detectors",
        "meta_learner_dir": tmp_path / "artifacts",
        "detect_per_minute": 0,
    }
    async with gateway_client(gw.registry("a", "b"), **settings) as client:
        empty = (await client.get("/stats/drift")).json()
        for _ in live:
            answer = await client.post("/detect", files={"file": ("x.png", png, "image/png")})
            assert answer.status_code == 200, answer.text
        report = (await client.get("/stats/drift")).json()

    before = {s["name"]: s for s in empty["detectors"]}
    assert before["a"]["histogram"]["window"] is None and before["a"]["histogram"]["window_size"] == 0
    streams = {s["name"]: s for s in [*report["detectors"], *report["fused"]]}
    a = streams["a"]
    assert a["state"] == "insufficient_data" and a["window_size"] == 5  # what /stats/drift answered stays
    histogram = a["histogram"]
    assert histogram["window_size"] == 5 and len(histogram["window"]) == len(histogram["reference"])
    assert len(histogram["edges"]) == len(histogram["reference"]) + 1
    assert histogram["edges"][0] == 0 and histogram["edges"][-1] == 1
    # The reference lies in 0.1 to 0.45, so its last bin runs up to 1 and holds the four bright scores.
    assert histogram["window"][-1] == pytest.approx(0.8) and sum(histogram["window"]) == pytest.approx(1)
    assert streams["b"]["histogram"] is None
    # average's reference is fused from the out-of-fold answers there are (a's alone); live, a and b.
    assert streams["fused:average"]["histogram"]["window_size"] == 5
