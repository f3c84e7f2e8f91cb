"""Container health probe: ``python /usr/local/bin/tribunal-healthcheck /health``.

Docker's HEALTHCHECK and compose run it inside the container. The slim Python images have no curl,
and the port comes from TRIBUNAL_PORT, which an exec-form HEALTHCHECK cannot expand itself.
Exit 0 when ``http://127.0.0.1:$TRIBUNAL_PORT<path>`` answers 200, 1 otherwise (reason on stderr).
Standard library only: it must run in any Tribunal image.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORT = "8000"
TIMEOUT_S = 4.0


def probe(path: str, port: str) -> str | None:
    """None when the service answers 200 at ``path``; otherwise why not."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        # /ready says why it is not ready in a JSON body; pass that on (make health shows it).
        return f"{url} answered {exc.code}: {exc.read(500).decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return f"{url} unreachable: {exc}"


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/health"
    problem = probe(path, os.environ.get("TRIBUNAL_PORT", DEFAULT_PORT))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
