"""``make health``: each registered detector's readiness and version, straight from the services."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from gateway.registry import DEFAULT_REGISTRY_PATH, load_registry


def check(registry_path: Path, timeout_s: float = 2.0) -> list[dict[str, str]]:
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
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY_PATH)
    args = parser.parse_args(argv)
    rows = check(args.registry)
    columns = ["name", "enabled", "ready", "version", "url", "note"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
    unhealthy = [r for r in rows if r["enabled"] == "True" and r["ready"] != "yes"]
    return 1 if unhealthy else 0


if __name__ == "__main__":
    sys.exit(main())
