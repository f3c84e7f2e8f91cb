"""``make health``: each registered detector's readiness and version, straight from the services.

When a Docker engine answers, each detector's containers (compose services and `make run-detector`
ones, found by their ``tribunal.detector`` label) are listed beside its /ready answer; without one
the table says "no Docker engine" and still shows /ready.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from gateway.registry import DEFAULT_REGISTRY_PATH, load_registry
from scripts.docker_ops import ContainerState, DockerUnavailable, connect, container_states

NO_ENGINE = "no Docker engine"


def docker_states() -> tuple[dict[str, list[ContainerState]] | None, str | None]:
    """Detector name -> its containers' states, or (None, why not) when no engine answers."""
    try:
        return container_states(connect(timeout_s=2.0)), None
    except DockerUnavailable as exc:
        return None, str(exc)


def container_column(name: str, states: dict[str, list[ContainerState]] | None) -> str:
    if states is None:
        return NO_ENGINE
    return "; ".join(str(state) for state in states.get(name, [])) or "no container"


def check(
    registry_path: Path, timeout_s: float = 2.0, states: dict[str, list[ContainerState]] | None = None
) -> list[dict[str, str]]:
    rows = []
    with httpx.Client(timeout=timeout_s) as client:
        for entry in load_registry(registry_path).detectors:
            row = {
                "name": entry.name,
                "url": entry.url,
                "enabled": str(entry.enabled),
                "ready": "-",
                "version": "-",
                "note": "",
                "container": container_column(entry.name, states),
            }
            if not entry.enabled:
                row["note"] = "disabled in the registry"
                rows.append(row)
                continue
            try:
                ready = client.get(f"{entry.url}/ready")
                row["ready"] = "yes" if ready.status_code == 200 else "no"
                if ready.status_code != 200:
                    row["note"] = str(ready.json().get("reason", ready.text))[:80]
                info = client.get(f"{entry.url}/info").json()
                row["version"] = str(info.get("version", "-"))
            except httpx.HTTPError as exc:
                row["ready"], row["note"] = "down", f"{type(exc).__name__}: {exc}"[:80]
                # In compose the detector is not published on the host: its container answers instead.
                inside = next((s for s in (states or {}).get(entry.name, []) if s.ready is not None), None)
                if inside is not None:
                    row["ready"] = "yes" if inside.ready else "no"
                    row["note"] = (
                        f"/ready inside {inside.container}"
                        + ("" if inside.ready else f": {inside.ready_detail}")[:120]
                    )
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY_PATH)
    args = parser.parse_args(argv)
    states, why_not = docker_states()
    rows = check(args.registry, states=states)
    columns = ["name", "enabled", "ready", "container", "version", "url", "note"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
    if why_not:
        print(f"(containers: {why_not})")
    unhealthy = [r for r in rows if r["enabled"] == "True" and r["ready"] != "yes"]
    return 1 if unhealthy else 0


if __name__ == "__main__":
    sys.exit(main())
