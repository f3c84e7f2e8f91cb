"""GET /stats: aggregates over the caller's analyses (an admin's: everyone's). GET /stats/drift: whether
the live scores still look like the training scores (gateway/drift.py), for the whole gateway."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from gateway.drift import DriftReport
from gateway.history import queries
from gateway.history.schemas import Stats
from gateway.openapi import error_responses
from gateway.routes.deps import CallerDep, GatewayDep, caller
from gateway.routes.history import FiltersDep

router = APIRouter(tags=["history"], responses=error_responses(401, 403, 422))


@router.get("/stats")
def stats(identity: CallerDep, gateway: GatewayDep, filters: FiltersDep) -> Stats:
    """Counts by verdict, predicted source and media type; per detector, failure rate and latency."""
    with gateway.db.session() as session:
        return queries.compute_stats(session, identity, filters)


@router.get("/stats/drift", tags=["operations"], dependencies=[Depends(caller)])
def drift(request: Request) -> DriftReport:
    """Per image detector and per fusion: PSI of the last scores against the training distribution,
    state (ok, drifted, insufficient_data), window and reference sizes, abstention and error rates."""
    return request.app.state.drift.report()
