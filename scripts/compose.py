"""docker-compose.yml, generated from the registry (config/detectors.yaml) so the two cannot drift.

The file holds the gateway (the only port published on every interface), one service per ENABLED
detector, each built from its own Dockerfile, and Prometheus and Grafana (scripts/monitoring.py,
published on 127.0.0.1 only); detectors marked ``gpu: true`` reserve an NVIDIA GPU and get the CUDA
PyTorch build, the others the CPU build. Detectors sit on an internal network with no route out; the
gateway also joins an edge network to publish its port. A ``postgres`` profile adds PostgreSQL, and a
``jobs`` profile a jobs worker for ``jobs_engine: procrastinate`` (docs/deployment.md).
The gateway inside compose reads config/detectors.containers.yaml (see scripts/deploy_names.py).

    python -m scripts.deploy_files generate            # writes this file with the other deploy files
    python -m scripts.compose cpu -o var/compose.cpu.yml   # the same stack without GPU reservations
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.registry import DetectorEntry, Registry, load_registry
from scripts import generated_files, monitoring
from scripts.deploy_names import (
    CONTAINER_APP_DIR,
    CONTAINER_DATA_DIR,
    CONTAINERS_REGISTRY,
    GATEWAY_IMAGE,
    GATEWAY_PORT,
    GATEWAY_SERVICE,
    JOBS_WORKER_COMMAND,
    JOBS_WORKER_SERVICE,
    image_name,
    render_containers_registry,
    service_name,
    torch_variant,
)
from tribunal_home import REPO_ROOT

COMPOSE_FILE = Path("docker-compose.yml")
DETECTOR_LABEL = "tribunal.detector"  # also set by `make run-detector`; `make health` finds containers by it
BACKEND_NETWORK = "backend"
EDGE_NETWORK = "edge"
HEALTHCHECK_CMD = ["CMD", "python", "/usr/local/bin/tribunal-healthcheck", "/health"]
POSTGRES_IMAGE = "postgres:17-alpine"

HEADER = """\
# GENERATED from config/detectors.yaml by `python -m scripts.deploy_files generate` (or `make
# deploy-files`); do not edit: a test fails when this file and the registry disagree. To change a
# detector's port, GPU use or presence, edit the registry and regenerate.
#
#   docker compose up -d --build                       # or: make compose-up
#   docker compose --profile postgres up -d --build    # with PostgreSQL (set the variables below)
#   docker compose --profile postgres --profile jobs up -d --build --scale jobs-worker=2
#                                                      # batch jobs on worker containers (PostgreSQL and
#                                                      # TRIBUNAL_JOBS_ENGINE=procrastinate needed)
#
# Variables (from the environment or a .env file beside this one):
#   TRIBUNAL_GATEWAY_PORT   host port of the gateway (default 8000)
#   TRIBUNAL_JWT_SECRET     token signing secret; required with PostgreSQL, optional with SQLite
#   TRIBUNAL_DATABASE_URL   empty: SQLite in the gateway-data volume; with the postgres profile:
#                           postgresql+psycopg://tribunal:<POSTGRES_PASSWORD>@postgres:5432/tribunal
#   POSTGRES_PASSWORD       password of the postgres profile's database
#   TRIBUNAL_JOBS_ENGINE    embedded (default: the gateway runs batch jobs) or procrastinate (the jobs
#                           profile's workers run them, queued in PostgreSQL)
#   TRIBUNAL_PROMETHEUS_PORT, TRIBUNAL_GRAFANA_PORT   Prometheus and Grafana on 127.0.0.1 (9090, 3000)
#   TRIBUNAL_GRAFANA_ADMIN_PASSWORD                   Grafana's admin password (default admin);
#                                                     anyone reaching Grafana may view the dashboard
"""


def _healthcheck(start_period: str) -> dict[str, Any]:
    return {
        "test": HEALTHCHECK_CMD,
        "interval": "30s",
        "timeout": "5s",
        "retries": 3,
        "start_period": start_period,
    }


def detector_service(entry: DetectorEntry, cpu_only: bool = False) -> dict[str, Any]:
    variant = torch_variant(entry, cpu_only)
    service: dict[str, Any] = {
        "image": f"{image_name(entry.name)}:latest",
        "build": {
            "context": ".",
            "dockerfile": f"detectors/{entry.package}/Dockerfile",
            "args": {"TORCH_VARIANT": variant},
        },
        "restart": "unless-stopped",
        "environment": {"TRIBUNAL_HOST": "0.0.0.0", "TRIBUNAL_PORT": str(entry.port)},
        "expose": [str(entry.port)],
        "labels": {DETECTOR_LABEL: entry.name},
        "networks": [BACKEND_NETWORK],
        # Model loading happens after /health answers, so a short start period is enough here.
        "healthcheck": _healthcheck("60s"),
    }
    if variant == "gpu":
        service["deploy"] = {
            "resources": {
                "reservations": {"devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]}
            }
        }
    return service


def gateway_service(detectors: list[DetectorEntry]) -> dict[str, Any]:
    depends_on: dict[str, Any] = {service_name(e.name): {"condition": "service_started"} for e in detectors}
    # Only when the postgres profile is active; without it the gateway uses SQLite in its volume.
    depends_on["postgres"] = {"condition": "service_healthy", "required": False}
    return {
        "image": f"{GATEWAY_IMAGE}:latest",
        "build": {"context": ".", "dockerfile": "gateway/Dockerfile"},
        "restart": "unless-stopped",
        "environment": {
            "TRIBUNAL_HOST": "0.0.0.0",
            "TRIBUNAL_PORT": str(GATEWAY_PORT),
            "TRIBUNAL_REGISTRY_PATH": f"{CONTAINER_APP_DIR}/{CONTAINERS_REGISTRY}",
            "TRIBUNAL_DATA_DIR": CONTAINER_DATA_DIR,
            "TRIBUNAL_DATABASE_URL": "${TRIBUNAL_DATABASE_URL:-}",
            "TRIBUNAL_JWT_SECRET": "${TRIBUNAL_JWT_SECRET:-}",
            "TRIBUNAL_JOBS_ENGINE": "${TRIBUNAL_JOBS_ENGINE:-embedded}",
        },
        "ports": [f"${{TRIBUNAL_GATEWAY_PORT:-{GATEWAY_PORT}}}:{GATEWAY_PORT}"],
        "volumes": [
            # The SQLite database, the generated JWT secret and kept uploads.
            f"gateway-data:{CONTAINER_DATA_DIR}",
            # Deployed meta-learner versions; seeded from the image on first start, kept across rebuilds.
            f"meta-learner-artifacts:{CONTAINER_APP_DIR}/meta_learner/artifacts",
        ],
        "networks": [BACKEND_NETWORK, EDGE_NETWORK],
        "depends_on": depends_on,
        "healthcheck": _healthcheck("20s"),
    }


def jobs_worker_service() -> dict[str, Any]:
    """A jobs worker (``python -m gateway.jobs.worker``) from the gateway image, under the ``jobs`` profile.

    It reads TRIBUNAL_JOBS_ENGINE like the gateway does and refuses to start unless it is procrastinate, so
    a worker never runs beside a gateway that runs the items itself. It shares the gateway's data volume,
    where uploads wait until their item is run, and the deployed meta-learners (stacking runs here too).
    """
    return {
        "image": f"{GATEWAY_IMAGE}:latest",
        "profiles": ["jobs"],
        "command": JOBS_WORKER_COMMAND,
        "restart": "unless-stopped",
        "environment": {
            "TRIBUNAL_REGISTRY_PATH": f"{CONTAINER_APP_DIR}/{CONTAINERS_REGISTRY}",
            "TRIBUNAL_DATA_DIR": CONTAINER_DATA_DIR,
            "TRIBUNAL_DATABASE_URL": "${TRIBUNAL_DATABASE_URL:-}",
            "TRIBUNAL_JOBS_ENGINE": "${TRIBUNAL_JOBS_ENGINE:-embedded}",
        },
        "volumes": [
            f"gateway-data:{CONTAINER_DATA_DIR}",
            f"meta-learner-artifacts:{CONTAINER_APP_DIR}/meta_learner/artifacts",
        ],
        # Detectors and the database only: a worker serves nothing and needs no route out.
        "networks": [BACKEND_NETWORK],
        "depends_on": {
            GATEWAY_SERVICE: {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy", "required": False},
        },
        # Items running at a SIGTERM get 20 s to finish (gateway/jobs/worker.py), then are handed on.
        "stop_grace_period": "30s",
        "healthcheck": {
            "test": ["CMD", *JOBS_WORKER_COMMAND, "--check"],
            "interval": "30s",
            "timeout": "10s",
            "retries": 3,
            "start_period": "30s",
        },
    }


def postgres_service() -> dict[str, Any]:
    return {
        "image": POSTGRES_IMAGE,
        "profiles": ["postgres"],
        "restart": "unless-stopped",
        "environment": {
            "POSTGRES_DB": "tribunal",
            "POSTGRES_USER": "tribunal",
            # Empty makes the postgres image refuse to start and say why; the file must not fail
            # to parse for people who never use this profile.
            "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-}",
        },
        "volumes": ["postgres-data:/var/lib/postgresql/data"],
        "networks": [BACKEND_NETWORK],
        "healthcheck": {
            "test": ["CMD-SHELL", "pg_isready -U tribunal -d tribunal"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 5,
        },
    }


def compose_document(registry: Registry, cpu_only: bool = False) -> dict[str, Any]:
    """The compose file as data: gateway, enabled detectors, optional postgres and jobs worker, networks,
    volumes."""
    detectors = registry.enabled()
    services: dict[str, Any] = {GATEWAY_SERVICE: gateway_service(detectors)}
    for entry in detectors:
        services[service_name(entry.name)] = detector_service(entry, cpu_only)
    services["postgres"] = postgres_service()
    services[JOBS_WORKER_SERVICE] = jobs_worker_service()
    services.update(monitoring.compose_services(BACKEND_NETWORK, EDGE_NETWORK))
    return {
        "name": "tribunal",
        "services": services,
        "networks": {
            # No route out: detectors never call anything, and a file must not make them.
            BACKEND_NETWORK: {"internal": True},
            EDGE_NETWORK: {},
        },
        "volumes": {
            "gateway-data": {},
            "meta-learner-artifacts": {},
            "postgres-data": {},
            **{volume: {} for volume in monitoring.COMPOSE_VOLUMES},
        },
    }


def render_compose(registry: Registry, cpu_only: bool = False) -> str:
    body = generated_files.dump_yaml(compose_document(registry, cpu_only))
    return HEADER + "\n" + body


def render_all(root: Path = REPO_ROOT, registry: Registry | None = None) -> dict[Path, str]:
    """docker-compose.yml and the gateway's containers registry."""
    registry = registry or load_registry(root / "config" / "detectors.yaml")
    return {COMPOSE_FILE: render_compose(registry), CONTAINERS_REGISTRY: render_containers_registry(registry)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cpu = sub.add_parser(
        "cpu", help="write a compose file with every detector on the CPU build, no GPU reservations"
    )
    cpu.add_argument("-o", "--output", type=Path, default=REPO_ROOT / "var" / "compose.cpu.yml")
    args = parser.parse_args(argv)
    registry = load_registry(REPO_ROOT / "config" / "detectors.yaml")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render_compose(registry, cpu_only=True))
    print(
        f"wrote {args.output}; run it with: docker compose -f {args.output} --project-directory {REPO_ROOT} up -d --build"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
