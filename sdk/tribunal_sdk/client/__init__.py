"""The caller's side of the detector contract: the fan-out client and what it reports.

Everything that calls detectors goes through this one client: the gateway for every upload, and the
meta-learner when ``make retrain`` gathers its features (DESIGN.md: "through the same fan-out client
the gateway uses"). It lives in the SDK, not in ``gateway`` and not in a package of its own, because:

- **The wire contract is already here.** ``tribunal_sdk.app`` serves ``/predict``, ``/ready`` and
  ``/info`` and ``tribunal_sdk.result.PredictResponse`` is the body a detector sends; this subpackage
  reads those same answers. Both halves of the contract change in one place, under one version, and a
  detector and a caller built on the same SDK agree by construction.
- **Both callers already depend on the SDK, and neither on the other.** The gateway and the
  meta-learner each import ``tribunal_sdk`` already (``PredictResponse``, ``file_sha256``), and every
  image that runs them installs ``./sdk``. With the client here, ``meta_learner`` needs nothing from
  ``gateway`` (tests/test_package_boundaries.py holds that); a separate top-level package would add
  a third distribution to install and copy everywhere, for five modules.
- **It stays out of a detector's way.** ``import tribunal_sdk`` does not import this subpackage, so a
  detector service never loads it or its network stack (httpx, aiohttp; the gateway and the
  meta-learner install those).

It imports nothing from ``gateway`` or ``meta_learner``. It does not know the registry's schema
either: a call needs a ``DetectorEndpoint`` (name, url, timeout_s, media_types), which the gateway's
``DetectorEntry`` is.

- ``fanout``             ``FanoutClient``: concurrent, time-bounded, breaker-guarded calls; live state
- ``outcomes``           ``DetectorOutcome`` / ``DetectorStatus`` per call, ``ProbeResult`` per probe
- ``responses``          a detector's HTTP answer read into an outcome (nothing it sends is trusted)
- ``endpoint``           ``DetectorEndpoint``: what a call needs to know about a detector
- ``breaker``            the per-detector circuit breaker
- ``upload_body``        the multipart body of ``POST /predict``, encoded once per upload
- ``aiohttp_transport``  the httpx transport that moves the bytes with aiohttp (and ``/predict`` directly)
"""

from tribunal_sdk.client.aiohttp_transport import AiohttpTransport
from tribunal_sdk.client.breaker import BreakerState, CircuitBreaker
from tribunal_sdk.client.endpoint import DetectorEndpoint
from tribunal_sdk.client.fanout import DetectorState, FanoutClient, OutcomeObserver
from tribunal_sdk.client.outcomes import ANSWERED, FAILED, DetectorOutcome, DetectorStatus, ProbeResult

__all__ = [
    "ANSWERED",
    "FAILED",
    "AiohttpTransport",
    "BreakerState",
    "CircuitBreaker",
    "DetectorEndpoint",
    "DetectorOutcome",
    "DetectorState",
    "DetectorStatus",
    "FanoutClient",
    "OutcomeObserver",
    "ProbeResult",
]
