"""Every deployment file generated from the registry: Dockerfiles, docker-compose.yml, deploy/k8s/,
and the metrics stack's deploy/prometheus/ and deploy/grafana/.

    python -m scripts.deploy_files generate   # write them (make deploy-files)
    python -m scripts.deploy_files check      # exit 1 naming each file that drifted (make deploy-check)

``make add-model`` and ``make remove-model`` call ``generate`` after editing the registry, so a new
detector gets its image, compose service and manifests in one step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.registry import load_registry
from scripts import compose, dockerfiles, generated_files, k8s, monitoring
from tribunal_home import REPO_ROOT


def render_all(root: Path = REPO_ROOT) -> dict[Path, str]:
    registry = load_registry(root / "config" / "detectors.yaml")
    rendered: dict[Path, str] = {}
    for module in (dockerfiles, compose, k8s, monitoring):
        rendered.update(module.render_all(root, registry))
    return rendered


# deploy/k8s and the metrics stack's folders are generated whole; elsewhere generated files sit
# beside hand-written ones.
OWNED_DIRS = (k8s.K8S_DIR, *monitoring.OWNED_DIRS)


def generate(root: Path = REPO_ROOT) -> list[Path]:
    """Write every generated deployment file under ``root``; returns the paths changed or deleted."""
    return generated_files.write(render_all(root), root, OWNED_DIRS)


def check(root: Path = REPO_ROOT) -> list[str]:
    """One line per generated file that differs from what the registry and templates render."""
    return generated_files.drift(render_all(root), root, OWNED_DIRS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["generate", "check"])
    args = parser.parse_args(argv)
    if args.command == "generate":
        changed = generate()
        for path in changed:
            print(f"  wrote {path}" if (REPO_ROOT / path).exists() else f"  removed {path}")
        print(f"{len(changed)} file(s) changed" if changed else "deployment files already up to date")
        return 0
    problems = check()
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    if problems:
        print(
            "deployment files drifted from config/detectors.yaml or scripts/templates/: run `make deploy-files`",
            file=sys.stderr,
        )
        return 1
    print("deployment files match the registry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
