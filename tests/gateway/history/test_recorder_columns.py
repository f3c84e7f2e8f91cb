"""A row fits its columns on every database: the answer's ``method`` can carry a long fallback reason
("average (stacking unavailable: ...)"), which PostgreSQL refuses past the column's length."""

from __future__ import annotations

from sqlalchemy import select

from gateway.db.models import Analysis
from gateway.history.recorder import HistoryEntry
from support.answers import make_answer


def test_a_long_method_is_cut_to_its_column_and_the_row_is_written(db, recorder, gw):
    answer = make_answer()
    answer.method = "average (stacking unavailable: " + "the deployed meta-learner does not match " * 10 + ")"
    assert recorder.write([HistoryEntry(answer, gw.image(), None, "p.png", None)]) == [None]
    length = Analysis.__table__.c.method.type.length
    with db.session() as session:
        stored = session.scalar(select(Analysis.method).where(Analysis.id == answer.id))
    assert len(stored) == length and stored.endswith("…")
    assert stored.startswith("average (stacking unavailable: ")
