"""``make remove-model NAME=<name>``: undo ``make add-model``.

Removes the registry entry (with the comment above it), detectors/<package>/ and
tests/detectors/<package>/, and regenerates docker-compose.yml and deploy/k8s/, so the tree is as it
was before the detector was added. It deletes the detector's folder with whatever was written in
it: commit first if you may want it back.

    python -m scripts.remove_model demo_detector
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from gateway.registry import RegistryError, load_registry
from scripts import deploy_files
from scripts.add_model import DetectorPaths
from scripts.registry_edit import remove_entry
from tribunal_home import REPO_ROOT
from tribunal_sdk.errors import TribunalError


class RemoveModelError(TribunalError, ValueError):
    """Nothing called that exists; the message lists what does."""

    status_code = 404
    code = "unknown_detector"


def remove_model(root: Path, name: str) -> list[Path]:
    """Remove detector ``name`` under ``root``; returns what was removed."""
    registry_path = root / "config" / "detectors.yaml"
    entry = load_registry(registry_path).get(name)
    package = entry.package if entry else name
    paths = DetectorPaths.of(package)
    folders = [folder for folder in (paths.package_dir, paths.test_dir) if (root / folder).is_dir()]
    if entry is None and not folders:
        names = ", ".join(load_registry(registry_path).names)
        raise RemoveModelError(
            f"no detector named {name!r} in config/detectors.yaml or detectors/ (registered: {names})"
        )
    removed: list[Path] = []
    if entry is not None:
        remove_entry(registry_path, name)
        removed.append(Path("config/detectors.yaml") / f"({name})")
    for folder in folders:
        shutil.rmtree(root / folder)
        removed.append(folder)
    deploy_files.generate(root)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        removed = remove_model(REPO_ROOT, args.name)
    except (RemoveModelError, RegistryError) as exc:
        print(f"make remove-model: {exc}", file=sys.stderr)
        return 2
    for path in removed:
        print(f"  removed {path}")
    print(
        f"{args.name} removed; docker-compose.yml and deploy/k8s/ regenerated. If a deployed meta-learner "
        "was trained with it, `make retrain` so stacking stops expecting it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
