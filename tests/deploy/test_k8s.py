"""deploy/k8s: rendered with `kubectl kustomize` and validated with `kubernetes-validate --strict`."""

import pytest
import yaml

from scripts import generated_files, k8s
from support.repo_tree import REPO_ROOT
from support.tools import run, tool

KUSTOMIZATIONS = ["base", "overlays/gpu", "overlays/scaled", "overlays/jobs"]


def build(folder) -> tuple[list[dict], str]:
    """`kubectl kustomize` the folder, validate the result strictly, return its documents."""
    rendered = run(tool("kubectl"), "kustomize", str(folder)).stdout
    return [d for d in yaml.safe_load_all(rendered) if d], rendered


def validate(rendered: str, tmp_path, name: str) -> None:
    path = tmp_path / f"{name.replace('/', '-')}.yaml"
    path.write_text(rendered)
    run(tool("kubernetes-validate"), "--strict", str(path))


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_committed_manifests_render_and_validate(kustomization, tmp_path):
    documents, rendered = build(REPO_ROOT / "deploy/k8s" / kustomization)
    validate(rendered, tmp_path, kustomization)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert ("Deployment", "gateway") in kinds and ("HorizontalPodAutoscaler", "gateway") in kinds
    assert all(d["metadata"].get("namespace") == "tribunal" for d in documents if d["kind"] != "Namespace")


@pytest.fixture
def mixed_tree(tmp_path, mixed_registry):
    generated_files.write(k8s.render_all(tmp_path, mixed_registry), tmp_path)
    return tmp_path / "deploy/k8s"


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def test_detectors_get_probes_resources_and_a_service_on_their_registry_port(mixed_tree, tmp_path):
    documents, rendered = build(mixed_tree / "base")
    validate(rendered, tmp_path, "base")
    deployments, services = by_kind(documents, "Deployment"), by_kind(documents, "Service")
    assert set(deployments) == {"gateway", "gpu-model", "cpu-video"}  # not the disabled detector
    container = deployments["cpu-video"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/ready"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # ten minutes to load a model
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert {"name": "TRIBUNAL_PORT", "value": "9202"} in container["env"]
    assert services["cpu-video"]["spec"]["ports"][0]["port"] == 9202
    assert "nvidia.com/gpu" not in str(documents)  # the base asks for no GPU


def test_the_gateway_reads_the_containers_registry_from_a_configmap(mixed_tree):
    documents, _ = build(mixed_tree / "base")
    (configmap,) = by_kind(documents, "ConfigMap").values()
    inside = yaml.safe_load(configmap["data"]["detectors.yaml"])
    assert [d["url"] for d in inside["detectors"]] == [
        "http://gpu-model:9201",
        "http://cpu-video:9202",
        "http://switched-off:9203",
    ]
    gateway = by_kind(documents, "Deployment")["gateway"]["spec"]["template"]["spec"]
    assert gateway["volumes"][0]["configMap"]["name"] == configmap["metadata"]["name"]  # hashed name
    hpa = by_kind(documents, "HorizontalPodAutoscaler")["gateway"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_the_gpu_overlay_gives_gpu_detectors_a_gpu_node(mixed_tree, tmp_path):
    documents, rendered = build(mixed_tree / "overlays/gpu")
    validate(rendered, tmp_path, "gpu")
    deployments = by_kind(documents, "Deployment")
    gpu = deployments["gpu-model"]["spec"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}  # kept
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    cpu = deployments["cpu-video"]["spec"]["template"]["spec"]
    assert "nodeSelector" not in cpu and "nvidia.com/gpu" not in str(cpu)


def test_the_scaled_overlay_runs_several_replicas_behind_one_service(mixed_tree, tmp_path):
    documents, rendered = build(mixed_tree / "overlays/scaled")
    validate(rendered, tmp_path, "scaled")
    deployments = by_kind(documents, "Deployment")
    assert deployments["gpu-model"]["spec"]["replicas"] == k8s.SCALED_REPLICAS
    assert deployments["cpu-video"]["spec"]["replicas"] == 1
    service = by_kind(documents, "Service")["gpu-model"]
    assert service["spec"]["selector"] == deployments["gpu-model"]["spec"]["selector"]["matchLabels"]


def test_the_jobs_overlay_runs_workers_on_the_gateways_database_and_shared_spool(mixed_tree, tmp_path):
    documents, rendered = build(mixed_tree / "overlays/jobs")
    validate(rendered, tmp_path, "jobs")
    deployments = by_kind(documents, "Deployment")
    assert deployments["gpu-model"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "memory": "4Gi",
        "nvidia.com/gpu": 1,
    }  # on top of the gpu overlay
    gateway = deployments["gateway"]["spec"]["template"]["spec"]
    worker = deployments["jobs-worker"]["spec"]["template"]["spec"]
    assert deployments["jobs-worker"]["spec"]["replicas"] == k8s.JOBS_WORKER_REPLICAS >= 2
    for pod in (gateway, worker):
        (container,) = pod["containers"]
        assert {"name": "TRIBUNAL_JOBS_ENGINE", "value": "procrastinate"} in container["env"]
        assert {"name": "job-spool", "mountPath": "/data/jobs"} in container["volumeMounts"]
        assert {"name": "job-spool", "persistentVolumeClaim": {"claimName": "job-spool"}} in pod["volumes"]
        database = next(e for e in container["env"] if e["name"] == "TRIBUNAL_DATABASE_URL")
        assert database["valueFrom"]["secretKeyRef"] == {"name": "tribunal-gateway", "key": "database-url"}
    (worker_container,) = worker["containers"]
    assert worker_container["command"] == ["python", "-m", "gateway.jobs.worker"]
    assert worker_container["livenessProbe"]["exec"]["command"][-1] == "--check"
    # The worker reads the same registry ConfigMap as the gateway, by its hashed name.
    registry = next(v for v in worker["volumes"] if v["name"] == "registry")["configMap"]["name"]
    assert registry == next(v for v in gateway["volumes"] if v["name"] == "registry")["configMap"]["name"]
    assert registry.startswith("tribunal-registry-")
    (claim,) = by_kind(documents, "PersistentVolumeClaim").values()
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert not by_kind(documents, "Service").get("jobs-worker")  # a worker serves nothing
    # Nothing of it in the base: without the overlay the gateways run jobs themselves.
    base, _ = build(mixed_tree / "base")
    assert "jobs-worker" not in by_kind(base, "Deployment") and "TRIBUNAL_JOBS_ENGINE" not in str(base)
