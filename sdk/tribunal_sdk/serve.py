"""``serve(MyDetector)``: run a detector as a service from the command line."""

from __future__ import annotations

import argparse

import uvicorn

from tribunal_sdk.app import create_app
from tribunal_sdk.detector import Detector
from tribunal_sdk.logs import configure_logging
from tribunal_sdk.settings import ServiceSettings, resolve_device


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run a Tribunal detector service")
    parser.add_argument("--host", help="interface to bind (TRIBUNAL_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (TRIBUNAL_PORT)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (TRIBUNAL_DEVICE)")
    parser.add_argument("--load-mode", choices=["eager", "lazy"], help="(TRIBUNAL_LOAD_MODE)")
    return parser.parse_args(argv)


def serve(detector_cls: type[Detector], argv: list[str] | None = None) -> None:
    """Parse flags and environment, build the detector and the app, and run uvicorn until stopped."""
    args = _parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = ServiceSettings(**overrides)
    configure_logging(settings.log_level)
    detector = detector_cls(device=resolve_device(settings.device))
    app = create_app(detector, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
