"""What a caller may see of what users own (analyses, batch jobs): their own; an admin, everyone's;
nobody (auth off), the unowned ones."""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from gateway.auth.identity import Identity
from gateway.db.models import Analysis


def visible_to(query: Select, viewer: Identity, owner: InstrumentedAttribute = Analysis.user_id) -> Select:
    """Narrow ``query`` to the rows ``viewer`` may read; ``owner`` is the rows' user column."""
    if viewer.is_admin:
        return query
    if viewer.is_anonymous:
        return query.where(owner.is_(None))
    return query.where(owner == viewer.user_id)
