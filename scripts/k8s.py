"""deploy/k8s/: a kustomize base and overlays, generated from the registry like docker-compose.yml.

    base/                 Namespace, gateway Deployment + Service + HPA, one Deployment + Service per
                          enabled detector, the gateway's registry as a generated ConfigMap
    overlays/gpu/         nvidia.com/gpu limits, node selector and toleration for `gpu: true` detectors
    overlays/scaled/      the gpu overlay plus several replicas of one detector behind its Service
    overlays/jobs/        the gpu overlay with batch jobs on worker pods (jobs_engine: procrastinate): the
                          jobs-worker Deployment, the job-spool volume they share with the gateways

Render with ``kubectl kustomize deploy/k8s/overlays/gpu``; apply with ``kubectl apply -k ...``.
The whole folder is generated (``python -m scripts.deploy_files generate``); a test fails when it
differs from what the registry renders, and files of removed detectors are deleted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.registry import DetectorEntry, Registry, load_registry
from scripts import generated_files
from scripts.deploy_names import (
    CONTAINER_DATA_DIR,
    GATEWAY_IMAGE,
    GATEWAY_PORT,
    GATEWAY_SERVICE,
    JOBS_WORKER_COMMAND,
    JOBS_WORKER_SERVICE,
    image_name,
    render_containers_registry,
    service_name,
)
from tribunal_home import REPO_ROOT

K8S_DIR = Path("deploy/k8s")
NAMESPACE = "tribunal"
REGISTRY_CONFIGMAP = "tribunal-registry"
REGISTRY_MOUNT = "/etc/tribunal"
GATEWAY_SECRET = "tribunal-gateway"
SCALED_REPLICAS = 3
JOBS_WORKER_REPLICAS = 2
JOB_SPOOL_CLAIM = "job-spool"
JOB_SPOOL_SIZE = "50Gi"
# Where uploads wait for their item (gateway/jobs/spool.py: <data_dir>/jobs), shared by gateways and workers.
JOB_SPOOL_MOUNT = f"{CONTAINER_DATA_DIR}/jobs"
# Set by NVIDIA's GPU feature discovery (GPU Operator); clusters that label GPU nodes differently
# change it in the overlay (docs/deployment.md).
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
# Matches the uid the images run as (scripts/templates/detector.Dockerfile, gateway/Dockerfile).
APP_UID = 10001

HEADER = (
    "# GENERATED from config/detectors.yaml by `python -m scripts.deploy_files generate`; do not edit.\n"
    "# Change the registry (or scripts/k8s.py) and regenerate.\n"
)


def _labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": APP_UID,
        "runAsGroup": APP_UID,
        "fsGroup": APP_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _service(name: str, component: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name, component)},
        "spec": {
            "selector": _labels(name, component),
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


def detector_manifests(entry: DetectorEntry) -> list[dict[str, Any]]:
    """Deployment + Service of one detector; the Service keeps the registry port, so the gateway's
    containers registry (http://<service>:<port>) is right in Kubernetes as in compose."""
    name = service_name(entry.name)
    labels = _labels(name, "detector")
    container = {
        "name": "detector",
        "image": f"{image_name(entry.name)}:latest",
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "TRIBUNAL_HOST", "value": "0.0.0.0"},
            {"name": "TRIBUNAL_PORT", "value": str(entry.port)},
        ],
        "ports": [{"name": "http", "containerPort": entry.port}],
        # Loading weights can take minutes (large checkpoints, cold nodes): up to 15 min before the
        # liveness probe takes over. /health answers throughout; /ready only once the model serves.
        "startupProbe": _probe("/ready", period=10, failures=90),
        "readinessProbe": _probe("/ready", period=10, failures=3),
        "livenessProbe": _probe("/health", period=20, failures=3),
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "securityContext": _container_security(),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"securityContext": _pod_security(), "containers": [container]},
            },
        },
    }
    return [deployment, _service(name, "detector", entry.port)]


def gateway_manifests() -> list[dict[str, Any]]:
    """Deployment + Service + HPA of the gateway. Several replicas share one PostgreSQL database and
    one JWT secret, both from the Secret ``tribunal-gateway`` (docs/deployment.md creates it)."""
    labels = _labels(GATEWAY_SERVICE, "gateway")

    container = {
        "name": "gateway",
        "image": f"{GATEWAY_IMAGE}:latest",
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "TRIBUNAL_HOST", "value": "0.0.0.0"},
            {"name": "TRIBUNAL_PORT", "value": str(GATEWAY_PORT)},
            {"name": "TRIBUNAL_REGISTRY_PATH", "value": f"{REGISTRY_MOUNT}/detectors.yaml"},
            {"name": "TRIBUNAL_DATA_DIR", "value": CONTAINER_DATA_DIR},
            _secret_env("TRIBUNAL_DATABASE_URL", "database-url"),
            _secret_env("TRIBUNAL_JWT_SECRET", "jwt-secret"),
        ],
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT}],
        # /health, not /ready, gates traffic: with every detector down the gateway must still be
        # reachable to answer 503 naming them, rather than vanish from its Service.
        "startupProbe": _probe("/health", period=2, failures=30),
        "readinessProbe": _probe("/health", period=10, failures=3),
        "livenessProbe": _probe("/health", period=20, failures=3),
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "registry", "mountPath": REGISTRY_MOUNT, "readOnly": True},
            {"name": "data", "mountPath": CONTAINER_DATA_DIR},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        # No `replicas`: the HPA owns the count, and `kubectl apply` would otherwise reset it.
        "metadata": {"name": GATEWAY_SERVICE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": _pod_security(),
                    "containers": [container],
                    "volumes": [
                        {"name": "registry", "configMap": {"name": REGISTRY_CONFIGMAP}},
                        # Scratch only (uploads kept on request): accounts and history live in PostgreSQL.
                        {"name": "data", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": GATEWAY_SERVICE, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": GATEWAY_SERVICE},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }
    return [deployment, _service(GATEWAY_SERVICE, "gateway", GATEWAY_PORT), hpa]


def _secret_env(var: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": GATEWAY_SECRET, "key": key}}}


def job_spool_claim() -> dict[str, Any]:
    """The volume where uploads wait until a worker runs their item: every gateway and worker pod mounts
    it, on any node, so it must be ReadWriteMany (NFS, CephFS, EFS, Filestore, Azure Files...)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": JOB_SPOOL_CLAIM, "labels": _labels(JOB_SPOOL_CLAIM, "jobs")},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": JOB_SPOOL_SIZE}}},
    }


def jobs_worker_manifests() -> list[dict[str, Any]]:
    """The jobs-worker Deployment: the gateway image running ``python -m gateway.jobs.worker`` against the
    gateways' database (the broker) and their job spool. No Service: a worker serves nothing."""
    labels = _labels(JOBS_WORKER_SERVICE, "jobs-worker")
    check = {"exec": {"command": [*JOBS_WORKER_COMMAND, "--check"]}, "timeoutSeconds": 10}
    container = {
        "name": "worker",
        "image": f"{GATEWAY_IMAGE}:latest",
        "imagePullPolicy": "IfNotPresent",
        "command": JOBS_WORKER_COMMAND,
        "env": [
            {"name": "TRIBUNAL_REGISTRY_PATH", "value": f"{REGISTRY_MOUNT}/detectors.yaml"},
            {"name": "TRIBUNAL_DATA_DIR", "value": CONTAINER_DATA_DIR},
            {"name": "TRIBUNAL_JOBS_ENGINE", "value": "procrastinate"},
            _secret_env("TRIBUNAL_DATABASE_URL", "database-url"),
        ],
        # --check: the worker's loop touched its alive file within three heartbeats.
        "startupProbe": {**check, "periodSeconds": 5, "failureThreshold": 24},
        "livenessProbe": {**check, "periodSeconds": 30, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "registry", "mountPath": REGISTRY_MOUNT, "readOnly": True},
            {"name": "data", "mountPath": CONTAINER_DATA_DIR},
            {"name": "job-spool", "mountPath": JOB_SPOOL_MOUNT},
        ],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": JOBS_WORKER_SERVICE, "labels": labels},
            "spec": {
                "replicas": JOBS_WORKER_REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": _pod_security(),
                        # Items running at SIGTERM get 20 s to finish (gateway/jobs/worker.py), then are
                        # handed to another worker.
                        "terminationGracePeriodSeconds": 30,
                        "containers": [container],
                        "volumes": [
                            {"name": "registry", "configMap": {"name": REGISTRY_CONFIGMAP}},
                            {"name": "data", "emptyDir": {}},
                            {"name": "job-spool", "persistentVolumeClaim": {"claimName": JOB_SPOOL_CLAIM}},
                        ],
                    },
                },
            },
        }
    ]


def gateway_jobs_patch() -> dict[str, Any]:
    """Strategic-merge patch: the gateways only enqueue (jobs_engine: procrastinate) and spool uploads on
    the shared job-spool volume."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": GATEWAY_SERVICE},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "gateway",
                            "env": [{"name": "TRIBUNAL_JOBS_ENGINE", "value": "procrastinate"}],
                            "volumeMounts": [{"name": "job-spool", "mountPath": JOB_SPOOL_MOUNT}],
                        }
                    ],
                    "volumes": [
                        {"name": "job-spool", "persistentVolumeClaim": {"claimName": JOB_SPOOL_CLAIM}}
                    ],
                }
            }
        },
    }


def gpu_patch(entry: DetectorEntry) -> dict[str, Any]:
    """Strategic-merge patch giving one detector a GPU and a GPU node."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service_name(entry.name)},
        "spec": {
            "template": {
                "spec": {
                    "nodeSelector": GPU_NODE_SELECTOR,
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "detector", "resources": {"limits": {"nvidia.com/gpu": 1}}}],
                }
            }
        },
    }


def scaled_detector(registry: Registry) -> DetectorEntry | None:
    """The detector the `scaled` example replicates: a GPU detector if any, else the slowest (the
    longest timeout), which is where extra replicas pay off first."""
    enabled = registry.enabled()
    return max(enabled, key=lambda e: (e.gpu, e.timeout_s)) if enabled else None


def _dump(*documents: dict[str, Any], note: str = "") -> str:
    comment = "".join(f"# {line}\n" for line in note.splitlines())
    return HEADER + comment + generated_files.dump_yaml(*documents)


def render_all(root: Path = REPO_ROOT, registry: Registry | None = None) -> dict[Path, str]:
    """Every file under deploy/k8s/."""
    registry = registry or load_registry(root / "config" / "detectors.yaml")
    base, overlays = K8S_DIR / "base", K8S_DIR / "overlays"
    detectors = registry.enabled()
    files: dict[Path, str] = {}

    files[base / "namespace.yaml"] = _dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    )
    files[base / "gateway.yaml"] = _dump(*gateway_manifests())
    detector_files = []
    for entry in detectors:
        path = Path("detectors") / f"{service_name(entry.name)}.yaml"
        files[base / path] = _dump(*detector_manifests(entry))
        detector_files.append(str(path))
    files[base / "detectors.containers.yaml"] = render_containers_registry(registry)
    files[base / "kustomization.yaml"] = _dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": NAMESPACE,
            "labels": [{"pairs": {"app.kubernetes.io/part-of": "tribunal"}}],
            "resources": ["namespace.yaml", "gateway.yaml", *detector_files],
            # The name gets a content hash, so changing the registry rolls the gateway pods.
            "configMapGenerator": [
                {"name": REGISTRY_CONFIGMAP, "files": ["detectors.yaml=detectors.containers.yaml"]}
            ],
        }
    )

    gpu_detectors = [e for e in detectors if e.gpu]
    patch_files = []
    for entry in gpu_detectors:
        path = Path("patches") / f"{service_name(entry.name)}-gpu.yaml"
        files[overlays / "gpu" / path] = _dump(gpu_patch(entry))
        patch_files.append({"path": str(path)})
    files[overlays / "gpu" / "kustomization.yaml"] = _dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../../base"],
            "patches": patch_files,
        },
        note="One patch per detector marked `gpu: true` in the registry: a GPU, a GPU node, a toleration."
        + (
            ""
            if gpu_detectors
            else "\nNo detector is marked `gpu: true` now, so this overlay equals the base."
        ),
    )

    scaled = scaled_detector(registry)
    files[overlays / "scaled" / "kustomization.yaml"] = _dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../gpu"],
            "replicas": [{"name": service_name(scaled.name), "count": SCALED_REPLICAS}] if scaled else [],
        },
        note="An example: several pods of one detector behind its one Service (the gateway's URL does\n"
        "not change). Scale others the same way in an overlay of your own.",
    )

    jobs = overlays / "jobs"
    files[jobs / "jobs-worker.yaml"] = _dump(*jobs_worker_manifests())
    files[jobs / "job-spool.yaml"] = _dump(job_spool_claim())
    files[jobs / "patches" / "gateway-jobs.yaml"] = _dump(gateway_jobs_patch())
    files[jobs / "kustomization.yaml"] = _dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            # The base's namespace, so the worker also finds the registry ConfigMap by its hashed name.
            "namespace": NAMESPACE,
            "labels": [{"pairs": {"app.kubernetes.io/part-of": "tribunal"}}],
            "resources": ["../gpu", "job-spool.yaml", "jobs-worker.yaml"],
            "patches": [{"path": "patches/gateway-jobs.yaml"}],
        },
        note="Batch jobs on worker pods (docs/deployment.md): the gateways only enqueue, in the PostgreSQL\n"
        "database they share, and the jobs-worker pods run the items. Needs a ReadWriteMany storage class\n"
        "for the job-spool claim. Scale with: kubectl -n tribunal scale deployment/jobs-worker --replicas=N",
    )
    return files
