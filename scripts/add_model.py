"""``make add-model NAME=<name> MEDIA_TYPE=image|video PORT=<port> [GPU=1]``: a new detector in one step.

Creates detectors/<name>/ from scripts/templates/detector/ (detector.py on the SDK with load() and
predict_batch() to write, detector.yaml, __init__.py, __main__.py, weights/MODEL_CARD.md, and a
Dockerfile from the shared template), a contract test in tests/detectors/<name>/, the registry
entry in config/detectors.yaml, and regenerates docker-compose.yml and deploy/k8s/. Until its
methods are written the detector is ready and abstains on everything (``not_implemented``), so the
stack runs and no score is ever invented. ``make remove-model NAME=<name>`` undoes all of it.

    python -m scripts.add_model demo_detector --media-type image --port 8105
"""

from __future__ import annotations

import argparse
import contextlib
import keyword
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from gateway.registry import RegistryError, load_registry
from gateway.settings import read_config_file
from scripts import deploy_files
from scripts.deploy_names import GATEWAY_PORT, RESERVED_SERVICE_NAMES
from scripts.local_stack import port_is_free
from scripts.registry_edit import append_entry
from scripts.render_template import render
from tribunal_home import REPO_ROOT
from tribunal_sdk.errors import TribunalError

# Lower-case words joined by single underscores: a Python package, and (underscores -> hyphens) a
# valid Kubernetes/compose service name.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
# Kubernetes names stay far inside 63 characters, and generated imports fit on one line.
MAX_NAME_LENGTH = 30
MIN_PORT, MAX_PORT = 1024, 65535  # the images run as a non-root user, which cannot bind below 1024
RESERVED_NAMES = {"common", *RESERVED_SERVICE_NAMES}
DEFAULT_TIMEOUT_S = 10.0


class AddModelError(TribunalError, ValueError):
    """The request cannot be carried out; the message says what to change."""

    status_code = 422
    code = "add_model_refused"


@dataclass(frozen=True)
class DetectorPaths:
    """Everything add-model creates for one detector, relative to the repository root."""

    package_dir: Path
    test_dir: Path

    @classmethod
    def of(cls, package: str) -> DetectorPaths:
        return cls(Path("detectors") / package, Path("tests") / "detectors" / package)


def class_name(name: str) -> str:
    """``demo_detector`` -> ``DemoDetector``; ``fft_spectral`` -> ``FftSpectralDetector``."""
    camel = "".join(part.capitalize() for part in name.split("_"))
    return camel if camel.endswith("Detector") else camel + "Detector"


def gateway_port(root: Path) -> int:
    return int(read_config_file(root / "config" / "gateway.yaml").get("port", GATEWAY_PORT))


def validate(root: Path, name: str, media_type: str, port: int) -> list[str]:
    """Raise AddModelError for a name or port that is invalid or taken; return warnings otherwise."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise AddModelError(
            f"invalid NAME {name!r}: use lower-case letters and digits in words joined by single "
            f"underscores, starting with a letter, at most {MAX_NAME_LENGTH} characters (e.g. my_detector)"
        )
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        raise AddModelError(f"NAME {name!r} is reserved; pick another")
    if media_type not in ("image", "video"):
        raise AddModelError(f"MEDIA_TYPE must be image or video, not {media_type!r}")
    registry_path = root / "config" / "detectors.yaml"
    try:
        registry = load_registry(registry_path)
    except RegistryError as exc:
        raise AddModelError(f"fix the registry first:\n{exc}") from exc
    if registry.get(name) or any(e.package == name for e in registry.detectors):
        raise AddModelError(f"NAME {name!r} is taken: config/detectors.yaml already has it")
    paths = DetectorPaths.of(name)
    for folder in (paths.package_dir, paths.test_dir):
        if (root / folder).exists():
            raise AddModelError(f"NAME {name!r} is taken: {folder}/ already exists")
    if not MIN_PORT <= port <= MAX_PORT:
        raise AddModelError(f"PORT must be between {MIN_PORT} and {MAX_PORT}, not {port}")
    owner = next((e.name for e in registry.detectors if e.port == port), None)
    if owner:
        used = sorted(e.port for e in registry.detectors)
        raise AddModelError(
            f"PORT {port} is taken by {owner} in config/detectors.yaml (ports in use: {used})"
        )
    if port == gateway_port(root):
        raise AddModelError(f"PORT {port} is the gateway's port (config/gateway.yaml); pick another")
    if not port_is_free(port):
        return [f"something on this machine listens on port {port} right now; `make start` will need it free"]
    return []


def render_files(name: str, media_type: str, port: int) -> dict[Path, str]:
    """The new detector's source files and test, from scripts/templates/detector/."""
    paths = DetectorPaths.of(name)
    image = media_type == "image"
    values: dict[str, object] = {
        "name": name,
        "package": name,
        "port": port,
        "media_type": media_type,
        "class_name": class_name(name),
        "base_class": "ImageDetector" if image else "VideoDetector",
        "input_class": "ImageInput" if image else "VideoInput",
        "sdk_imports": ", ".join(
            sorted(
                ["Prediction", "ImageDetector", "ImageInput"]
                if image
                else ["Prediction", "VideoDetector", "VideoInput"]
            )
        ),
        "input_help": (
            "``item.image`` is an RGB PIL image (EXIF orientation applied); ``item.raw`` the bytes as sent."
            if image
            else "``item.path`` is the uploaded video on disk (deleted after the answer); read frames from it."
        ),
        "samples": (
            "SAMPLE = png_bytes()\n"
            "# The start of an AVI file: enough for the SDK to recognise (and refuse) a video.\n"
            'OTHER_MEDIA = b"RIFF\\x00\\x10\\x00\\x00AVI LIST" + bytes(64)'
            if image
            else "# The start of an AVI file: enough for the SDK to accept a video. Once predict_batch reads\n"
            "# frames, use a real short clip instead (e.g. written with cv2.VideoWriter).\n"
            'SAMPLE = b"RIFF\\x00\\x10\\x00\\x00AVI LIST" + bytes(64)\n'
            "OTHER_MEDIA = png_bytes()"
        ),
    }
    templates = {
        paths.package_dir / "__init__.py": "__init__.py.tmpl",
        paths.package_dir / "__main__.py": "__main__.py.tmpl",
        paths.package_dir / "detector.py": "detector.py.tmpl",
        paths.package_dir / "detector.yaml": "detector.yaml.tmpl",
        paths.package_dir / "weights" / "MODEL_CARD.md": "MODEL_CARD.md.tmpl",
        paths.test_dir / f"test_{name}.py": "test_detector.py.tmpl",
    }
    return {path: render(f"detector/{template}", values) for path, template in templates.items()}


def registry_entry(name: str, media_type: str, port: int, gpu: bool) -> dict[str, object]:
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "port": port,
        "media_types": [media_type],
        "enabled": True,
        "timeout_s": DEFAULT_TIMEOUT_S,
        "weight": 1.0,
        "dependency": "soft",
        "gpu": gpu,
    }


def add_model(root: Path, name: str, media_type: str, port: int, gpu: bool = False) -> list[str]:
    """Create, register and wire one detector under ``root``; returns warnings. Nothing is left
    half-done: if a later step fails, the files and the registry are put back as they were."""
    warnings = validate(root, name, media_type, port)
    paths = DetectorPaths.of(name)
    registry_path = root / "config" / "detectors.yaml"
    registry_before = registry_path.read_text()
    try:
        for relative, text in render_files(name, media_type, port).items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
        append_entry(
            registry_path,
            registry_entry(name, media_type, port, gpu),
            comment=f"{name}: added by `make add-model`; abstains (not_implemented) until "
            f"detectors/{name}/detector.py has a model.",
        )
        # Its Dockerfile, compose service and Kubernetes manifests, all from the registry.
        deploy_files.generate(root)
    except BaseException:
        registry_path.write_text(registry_before)
        for folder in (paths.package_dir, paths.test_dir):
            shutil.rmtree(root / folder, ignore_errors=True)
        with contextlib.suppress(Exception):  # the original error is the one worth reporting
            deploy_files.generate(root)
        raise
    return warnings


def next_steps(name: str, media_type: str, port: int, gpu: bool) -> str:
    return f"""\
Added the {media_type} detector {name!r} on port {port}{" (GPU)" if gpu else ""}:
  detectors/{name}/detector.py          load() and predict_batch() to write
  detectors/{name}/detector.yaml        its metadata: version, classes, weights pinned by sha256
  detectors/{name}/weights/MODEL_CARD.md  what the model is, how it was trained and measured
  detectors/{name}/Dockerfile           its image (generated: edit scripts/templates/detector.Dockerfile)
  tests/detectors/{name}/test_{name}.py  the service contract, to keep and extend
  config/detectors.yaml                 registered and enabled; docker-compose.yml and deploy/k8s/ regenerated

Until detector.py has a model it abstains on every input (reason not_implemented), which fusion
leaves out: nothing it says counts yet.

Next:
  1. Write load() and predict_batch() in detectors/{name}/detector.py; put the weights in
     detectors/{name}/weights/ and pin them in detector.yaml.
  2. .venv/bin/python -m pytest tests/detectors/{name}
  3. make start               the launcher and the gateway read the registry: no code to change
     make run-detector NAME={name}{" GPU=1" if gpu else ""}   the same in its container
  4. make retrain             the deployed meta-learner was trained without {name}; `make retrain`
                              warns about that: retrain once {name} has a real model, so stacking uses it
Undo everything with: make remove-model NAME={name}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name")
    parser.add_argument("--media-type", default="image", help="image or video")
    parser.add_argument("--port", type=int, required=True, help="port the local launcher starts it on")
    parser.add_argument(
        "--gpu", action="store_true", help="its container asks for a GPU (registry gpu: true)"
    )
    args = parser.parse_args(argv)
    try:
        warnings = add_model(REPO_ROOT, args.name, args.media_type, args.port, args.gpu)
    except (AddModelError, RegistryError) as exc:
        print(f"make add-model: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(next_steps(args.name, args.media_type, args.port, args.gpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
