"""``python -m gateway``: serve the gateway with uvicorn on the configured host and port."""

from __future__ import annotations

import sys

import uvicorn

from gateway.app import create_app
from gateway.registry import RegistryError
from gateway.settings import SettingsError, load_settings
from tribunal_sdk.logs import configure_logging


def main() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        app = create_app(settings)
    except (SettingsError, RegistryError) as exc:
        print(f"tribunal gateway: configuration error:\n{exc}", file=sys.stderr)
        return 2
    # log_config=None keeps our JSON logging; the request line replaces uvicorn's access log.
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from loopback; the app decides
    # whom to believe from its trusted_proxies setting (gateway/proxies.py).
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, proxy_headers=False
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
