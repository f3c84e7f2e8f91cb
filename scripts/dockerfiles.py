"""Each detector's Dockerfile, rendered from one template (scripts/templates/detector.Dockerfile).

Every folder under detectors/ with a detector.yaml gets ``detectors/<name>/Dockerfile``. The
template is the only place the image is described, so the Dockerfiles cannot drift apart; what
varies per detector is its name, its package, its registry port and the project's torch pins.

``python -m scripts.deploy_files generate`` writes them (with the compose file and the Kubernetes
manifests); ``... check`` fails when a committed Dockerfile differs from what the template renders.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from gateway.registry import Registry, load_registry
from scripts.deploy_names import image_name
from scripts.render_template import render
from tribunal_home import REPO_ROOT

TEMPLATE = "detector.Dockerfile"
# The port a detector listens on when the registry does not list it (the SDK's default).
UNREGISTERED_PORT = 8100


def detector_folders(root: Path) -> list[str]:
    """Names of the detector packages: folders under detectors/ holding a detector.yaml."""
    return sorted(p.parent.name for p in (root / "detectors").glob("*/detector.yaml"))


def torch_pins(root: Path) -> dict[str, str]:
    """The exact torch and torchvision versions pinned in the `ml` extra of pyproject.toml."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    requirements = pyproject["project"]["optional-dependencies"]["ml"]
    pins = {}
    for package in ("torch", "torchvision"):
        found = [m.group(1) for r in requirements if (m := re.fullmatch(rf"{package}==([\w.]+)", r.strip()))]
        if len(found) != 1:
            raise ValueError(
                f"pyproject.toml: the `ml` extra must pin {package} exactly once (e.g. {package}==X.Y.Z); "
                "the detector images install that version"
            )
        pins[package] = found[0]
    return pins


def render_dockerfile(package: str, registry: Registry, pins: dict[str, str]) -> str:
    entry = next((e for e in registry.detectors if e.package == package), None)
    name = entry.name if entry else package
    return render(
        TEMPLATE,
        {
            "name": name,
            "package": package,
            "image": image_name(name),
            "port": entry.port if entry else UNREGISTERED_PORT,
            "torch_version": pins["torch"],
            "torchvision_version": pins["torchvision"],
        },
    )


def render_all(root: Path = REPO_ROOT, registry: Registry | None = None) -> dict[Path, str]:
    """``{detectors/<name>/Dockerfile: text}`` for every detector folder."""
    registry = registry or load_registry(root / "config" / "detectors.yaml")
    pins = torch_pins(root)
    return {
        Path("detectors") / package / "Dockerfile": render_dockerfile(package, registry, pins)
        for package in detector_folders(root)
    }
