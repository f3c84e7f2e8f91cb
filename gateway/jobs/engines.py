"""Job engines by name, the way fusion strategies are registered: the ``jobs_engine`` setting picks one.

    engine = create_job_engine(settings.jobs_engine, gateway, spool, gate)

- ``embedded`` (gateway/jobs/engine.py): the gateway runs the items itself; no other process or server.
- ``procrastinate`` (gateway/jobs/broker.py): the gateway only enqueues; ``python -m gateway.jobs.worker``
  processes run the items, with the PostgreSQL database as the broker (procrastinate).

Every engine gives the routes the same face: ``spool`` (where uploads wait), ``gate`` (interactive
/detect traffic), ``start()``, ``stop()`` and ``wake()`` (new work was stored). An engine module is imported
only when it is chosen, so the embedded default needs none of the broker's dependencies.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.jobs.priority import InteractiveGate
    from gateway.jobs.spool import JobSpool
    from gateway.routes.deps import Gateway


class JobEngineLike(Protocol):
    spool: JobSpool
    gate: InteractiveGate

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def wake(self) -> None: ...


@dataclass(frozen=True)
class EngineSpec:
    target: str  # "module:Class", imported when chosen
    needs_postgresql: bool


_ENGINES: dict[str, EngineSpec] = {
    "embedded": EngineSpec("gateway.jobs.engine:JobEngine", needs_postgresql=False),
    "procrastinate": EngineSpec("gateway.jobs.broker:BrokerEngine", needs_postgresql=True),
}


def engine_names() -> list[str]:
    return list(_ENGINES)


def needs_postgresql(name: str) -> bool:
    spec = _ENGINES.get(name)
    return spec is not None and spec.needs_postgresql


def create_job_engine(name: str, gateway: Gateway, spool: JobSpool, gate: InteractiveGate) -> JobEngineLike:
    """The engine registered as ``name``; ValueError naming the known ones for any other name."""
    try:
        spec = _ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown jobs engine {name!r}; known: {', '.join(_ENGINES)}") from None
    module_name, class_name = spec.target.split(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(gateway, spool, gate)
