"""How a registry entry is named and addressed once it runs in a container (compose and Kubernetes).

Local mode (``make start``) reaches each detector at the registry's ``url`` (127.0.0.1:<port>).
Inside docker-compose and Kubernetes every detector is its own host on a private network, reached
by its service name on the same port: ``clip_universal`` on 8103 becomes ``http://clip-universal:8103``.
Service names use hyphens because Kubernetes Service names must be DNS labels (no underscores);
compose uses the same names so one derived registry serves both.

That derived registry, ``config/detectors.containers.yaml``, is generated from config/detectors.yaml
(only the URLs differ) and baked into the gateway image; the gateway reads it through
``TRIBUNAL_REGISTRY_PATH``. Nothing here is edited by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml

from gateway.registry import DetectorEntry, Registry, parse_registry

GATEWAY_SERVICE = "gateway"
GATEWAY_IMAGE = "tribunal-gateway"
GATEWAY_PORT = 8000
# Inside the gateway image: where the containers' registry and the data volume live.
CONTAINER_APP_DIR = "/app"
CONTAINERS_REGISTRY = Path("config/detectors.containers.yaml")
CONTAINER_DATA_DIR = "/data"
# Names other parts of the deployment already use; a detector may not take them.
# The jobs worker (gateway/jobs/worker.py) runs from the gateway image.
JOBS_WORKER_SERVICE = "jobs-worker"
JOBS_WORKER_COMMAND = ["python", "-m", "gateway.jobs.worker"]
RESERVED_SERVICE_NAMES = frozenset(
    {GATEWAY_SERVICE, JOBS_WORKER_SERVICE, "postgres", "prometheus", "grafana"}
)

TorchVariant = Literal["gpu", "cpu"]


def service_name(detector_name: str) -> str:
    """The compose service and Kubernetes Deployment/Service name: ``clip_universal`` -> ``clip-universal``."""
    return detector_name.replace("_", "-")


def image_name(detector_name: str) -> str:
    """The image a detector's Dockerfile builds, without a tag: ``tribunal-clip-universal``."""
    return f"tribunal-{service_name(detector_name)}"


def torch_variant(entry: DetectorEntry, cpu_only: bool = False) -> TorchVariant:
    """CUDA PyTorch for detectors the registry marks ``gpu: true``, the much smaller CPU build otherwise."""
    return "gpu" if entry.gpu and not cpu_only else "cpu"


def container_url(entry: DetectorEntry) -> str:
    """Where the gateway reaches ``entry`` from inside the container network."""
    return f"http://{service_name(entry.name)}:{entry.port}"


def containers_registry(registry: Registry) -> Registry:
    """The same registry with every URL pointing at the detector's service name."""
    entries = [entry.model_dump() | {"url": container_url(entry)} for entry in registry.detectors]
    return parse_registry({"detectors": entries}, "containers registry")


def render_containers_registry(registry: Registry, source: str = "config/detectors.yaml") -> str:
    """The text of config/detectors.containers.yaml."""
    entries = []
    for entry in containers_registry(registry).detectors:
        data = entry.model_dump()
        if data["package"] == data["name"]:
            del data["package"]  # the default; keeps the file as short as the source
        entries.append(data)
    header = (
        f"# GENERATED from {source} by `python -m scripts.deploy_files generate`; do not edit.\n"
        "# The registry as the gateway sees it inside docker-compose or Kubernetes: each detector is\n"
        "# reached by its service name (scripts/deploy_names.py). Everything but `url` is copied as is.\n"
    )
    return header + yaml.safe_dump({"detectors": entries}, sort_keys=False, default_flow_style=None)
