"""Fusion strategies, registered by name: ``get_strategy("average").run(votes, ctx)``.

Importing this package registers the built-in strategies; a new strategy is one module here plus
its import below.
"""

from gateway.fusion import average, stacking, voting  # noqa: F401  (imported to register them)
from gateway.fusion.base import (
    FusionContext,
    FusionResult,
    FusionStrategy,
    Verdict,
    Vote,
    get_strategy,
    register_strategy,
    strategy_names,
)

__all__ = [
    "FusionContext",
    "FusionResult",
    "FusionStrategy",
    "Verdict",
    "Vote",
    "get_strategy",
    "register_strategy",
    "strategy_names",
]
