"""Container operations through the Docker SDK (PyPI ``docker``): one detector image, container states.

    python -m scripts.docker_ops run clip_universal [--gpu] [--weights DIR]   # make run-detector
    python -m scripts.docker_ops stop clip_universal                         # make stop-detector
    python -m scripts.docker_ops states                                      # what `make health` adds

``run`` builds the detector's image from its Dockerfile (CPU PyTorch, or CUDA with ``--gpu``), starts
it with a GPU device request when asked, publishes it on 127.0.0.1 at its registry port (so a local
gateway reaches it at the registry's URL) and waits for /ready. Containers are labelled
``tribunal.detector=<name>``, like the compose services, which is how ``states`` finds them.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.registry import DetectorEntry, RegistryError, load_registry
from scripts.compose import DETECTOR_LABEL
from scripts.deploy_names import image_name, service_name
from tribunal_home import REPO_ROOT
from tribunal_sdk.errors import TribunalError

READY_TIMEOUT_S = 600.0
# Where every Tribunal image keeps scripts/container_healthcheck.py.
HEALTHCHECK_PATH = "/usr/local/bin/tribunal-healthcheck"


class DockerUnavailable(TribunalError, RuntimeError):
    """No Docker engine answers (or the docker package is missing); the message says which."""

    status_code = 503
    code = "docker_unavailable"


def connect(timeout_s: float = 5.0) -> Any:
    """A DockerClient whose engine answered a ping; DockerUnavailable otherwise."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:
        raise DockerUnavailable("the `docker` Python package is missing: make install") from exc
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except DockerException as exc:
        raise DockerUnavailable(f"no Docker engine: {exc}") from exc
    return client


def container_name(detector_name: str) -> str:
    """The container `make run-detector` starts (compose names its own tribunal-<service>-<n>)."""
    return f"tribunal-run-{service_name(detector_name)}"


def describe(container: Any) -> str:
    """``running (healthy)``, ``exited (1)``, ``restarting``..."""
    state = container.attrs.get("State", {})
    status = state.get("Status", container.status)
    if status == "exited":
        return f"exited ({state.get('ExitCode', '?')})"
    health = state.get("Health", {}).get("Status")
    return f"{status} ({health})" if health else status


@dataclass(frozen=True)
class ContainerState:
    """One detector container: its name, its state and, when running, its own /ready answer."""

    container: str
    state: str
    ready: bool | None = None
    ready_detail: str = ""

    def __str__(self) -> str:
        return f"{self.container}: {self.state}"


def ready_inside(container: Any) -> tuple[bool, str]:
    """Ask /ready from inside the container: compose does not publish detector ports to the host."""
    code, output = container.exec_run(["python", HEALTHCHECK_PATH, "/ready"])
    return code == 0, output.decode(errors="replace").strip()


def container_states(client: Any, probe_ready: bool = True) -> dict[str, list[ContainerState]]:
    """Detector name -> the state of each container labelled as that Tribunal detector."""
    states: dict[str, list[ContainerState]] = {}
    for container in client.containers.list(all=True, filters={"label": DETECTOR_LABEL}):
        name = container.labels.get(DETECTOR_LABEL, "?")
        ready, detail = None, ""
        if probe_ready and container.status == "running":
            ready, detail = ready_inside(container)
        states.setdefault(name, []).append(ContainerState(container.name, describe(container), ready, detail))
    return states


def build_image(client: Any, entry: DetectorEntry, gpu: bool, root: Path = REPO_ROOT) -> str:
    """Build the detector's image with the Docker SDK, streaming the build log; returns the tag."""
    variant = "gpu" if gpu else "cpu"
    tag = f"{image_name(entry.name)}:{variant}"
    print(f"building {tag} from detectors/{entry.package}/Dockerfile (TORCH_VARIANT={variant})", flush=True)
    stream = client.api.build(
        path=str(root),
        dockerfile=f"detectors/{entry.package}/Dockerfile",
        tag=tag,
        buildargs={"TORCH_VARIANT": variant},
        rm=True,
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error'].strip()}")
        text = chunk.get("stream", "")
        if text.strip():
            print(text, end="" if text.endswith("\n") else "\n", flush=True)
    return tag


def run_detector(client: Any, entry: DetectorEntry, tag: str, gpu: bool, weights: Path | None = None) -> Any:
    """Start the detector's container (replacing one left by an earlier run)."""
    import docker
    from docker.errors import NotFound

    name = container_name(entry.name)
    with contextlib.suppress(NotFound):
        client.containers.get(name).remove(force=True)
    volumes = {}
    if weights is not None:
        # Swapped weights are still checked against the sha256 pinned in detector.yaml at load.
        volumes[str(weights.resolve())] = {"bind": f"/app/detectors/{entry.package}/weights", "mode": "ro"}
    return client.containers.run(
        tag,
        name=name,
        detach=True,
        environment={"TRIBUNAL_HOST": "0.0.0.0", "TRIBUNAL_PORT": str(entry.port)},
        ports={f"{entry.port}/tcp": ("127.0.0.1", entry.port)},
        labels={DETECTOR_LABEL: entry.name},
        volumes=volumes,
        device_requests=[docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])] if gpu else None,
    )


def wait_ready(container: Any, url: str, timeout_s: float = READY_TIMEOUT_S) -> tuple[bool, str]:
    """Poll /ready until 200, a failed load, the container exiting, or the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            return False, f"the container exited:\n{container.logs(tail=20).decode(errors='replace')}"
        try:
            response = httpx.get(f"{url}/ready", timeout=2.0)
        except httpx.HTTPError:
            time.sleep(1.0)
            continue
        if response.status_code == 200:
            return True, "ready"
        body = response.json()
        if body.get("status") == "failed":
            return False, f"alive but not ready: {body.get('reason')}"
        time.sleep(1.0)
    return False, f"not ready after {timeout_s:.0f} s"


def _entry(name: str) -> DetectorEntry:
    registry = load_registry(REPO_ROOT / "config" / "detectors.yaml")
    entry = registry.get(name)
    if entry is None:
        raise RegistryError(
            f"no detector named {name!r} in config/detectors.yaml (registered: {', '.join(registry.names)})"
        )
    return entry


def _run(args: argparse.Namespace) -> int:
    entry = _entry(args.name)
    client = connect()
    tag = build_image(client, entry, args.gpu)
    container = run_detector(client, entry, tag, args.gpu, args.weights)
    url = f"http://127.0.0.1:{entry.port}"
    print(
        f"started {container.name} ({tag}{', 1 GPU' if args.gpu else ''}) at {url}; waiting for /ready",
        flush=True,
    )
    ready, detail = wait_ready(container, url)
    print(f"{entry.name}: {detail}")
    print(f"logs: docker logs -f {container.name}    stop: make stop-detector NAME={entry.name}")
    return 0 if ready else 1


def _stop(args: argparse.Namespace) -> int:
    from docker.errors import NotFound

    client = connect()
    name = container_name(args.name)
    try:
        client.containers.get(name).remove(force=True)
    except NotFound:
        print(f"no container {name}")
        return 0
    print(f"removed {name}")
    return 0


def _states(_: argparse.Namespace) -> int:
    client = connect()
    states = container_states(client)
    for name, containers in sorted(states.items()):
        print(f"{name}: {', '.join(map(str, containers))}")
    if not states:
        print("no Tribunal detector containers")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build and run one detector's image")
    run.add_argument("name")
    run.add_argument("--gpu", action="store_true", help="CUDA PyTorch build and one GPU for the container")
    run.add_argument("--weights", type=Path, help="a weights folder to mount instead of the baked one")
    run.set_defaults(func=_run)
    stop = sub.add_parser("stop", help="remove the container `run` started")
    stop.add_argument("name")
    stop.set_defaults(func=_stop)
    states = sub.add_parser("states", help="list Tribunal detector containers and their state")
    states.set_defaults(func=_states)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (DockerUnavailable, RegistryError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
