"""Which analyses a caller may see: their own; an admin, everyone's; nobody (auth off), the unowned ones."""

from __future__ import annotations

from sqlalchemy import Select

from gateway.auth.identity import Identity
from gateway.db.models import Analysis


def visible_to(query: Select, viewer: Identity) -> Select:
    """Narrow a query over Analysis to the rows ``viewer`` may read."""
    if viewer.is_admin:
        return query
    if viewer.is_anonymous:
        return query.where(Analysis.user_id.is_(None))
    return query.where(Analysis.user_id == viewer.user_id)
