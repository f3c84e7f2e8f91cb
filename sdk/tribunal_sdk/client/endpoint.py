"""What the fan-out client needs to know about a detector to call it: a name, a base URL, a time limit.

The registry (config/detectors.yaml) says much more about each detector — port, weight, GPU, how the
launcher starts it — and its schema belongs to the gateway (``gateway.registry.DetectorEntry``). The
client asks only for this protocol, which a registry entry satisfies as it is, so the client does not
depend on the registry's schema and the registry does not depend on the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class DetectorEndpoint(Protocol):
    """One detector service as the fan-out client calls it."""

    @property
    def name(self) -> str:
        """The detector's name: the outcome's ``name`` and the key of its breaker and live state."""
        ...

    @property
    def url(self) -> str:
        """Base URL without a trailing slash; the client appends ``/predict``, ``/ready``, ``/info``."""
        ...

    @property
    def timeout_s(self) -> float:
        """End-to-end limit for one ``POST /predict`` call."""
        ...

    @property
    def media_types(self) -> Sequence[str]:
        """Media types it accepts; it is not called for any other."""
        ...
