"""GET /stats: aggregates over the caller's analyses (an admin's: everyone's)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.history import queries
from gateway.history.schemas import Stats
from gateway.openapi import error_responses
from gateway.routes.deps import CallerDep, GatewayDep
from gateway.routes.history import FiltersDep

router = APIRouter(tags=["history"], responses=error_responses(401, 403, 422))


@router.get("/stats")
def stats(identity: CallerDep, gateway: GatewayDep, filters: FiltersDep) -> Stats:
    """Counts by verdict, predicted source and media type; per detector, failure rate and latency."""
    with gateway.db.session() as session:
        return queries.compute_stats(session, identity, filters)
