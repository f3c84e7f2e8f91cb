"""Real local stacks for integration tests: detector processes plus the gateway on free ports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from scripts.local_stack import LocalStack, free_port


def detector_entry(name: str, package: str | None = None, **overrides) -> dict:
    port = free_port()
    entry = {
        "name": name,
        "package": package or name,
        "url": f"http://127.0.0.1:{port}",
        "port": port,
        "media_types": ["image"],
        "timeout_s": 5.0,
    }
    entry.update(overrides)
    return entry


@contextlib.contextmanager
def running_stack(
    tmp_path: Path,
    entries: list[dict],
    env: dict[str, str] | None = None,
    detector_env: dict[str, dict[str, str]] | None = None,
) -> Iterator[LocalStack]:
    """Start the gateway and the given detectors; always stop them afterwards.

    Auth is off and the gateway's database lives in ``tmp_path/data`` unless ``env`` says otherwise.
    """
    stack = LocalStack(
        registry_path=tmp_path / "detectors.yaml",
        gateway_port=free_port(),
        log_dir=tmp_path / "log",
        extra_env={
            "TRIBUNAL_AUTH_REQUIRED": "false",
            "TRIBUNAL_DATA_DIR": str(tmp_path / "data"),
            **(env or {}),
        },
        detector_env=detector_env or {},
    )
    stack.write_registry(entries)
    stack.start(timeout_s=120)
    try:
        yield stack
    finally:
        stack.stop()
