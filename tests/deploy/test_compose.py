"""docker-compose.yml: generated from the registry, valid against the compose specification."""

import yaml

from gateway.registry import REPO_ROOT, load_registry
from scripts.compose import compose_document, render_compose
from scripts.deploy_names import containers_registry
from support.tools import run, tool

GPU_RESERVATION = [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
# The metrics stack (scripts/monitoring.py; tests/deploy/test_monitoring.py), published on 127.0.0.1 only.
MONITORING = ["prometheus", "grafana"]
MONITORING_VOLUMES = {"prometheus-data", "grafana-data"}


def validate(path) -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))


def test_the_committed_compose_file_is_valid():
    validate(REPO_ROOT / "docker-compose.yml")


def test_it_holds_the_gateway_and_every_enabled_detector_of_the_registry():
    document = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    registry = load_registry(REPO_ROOT / "config" / "detectors.yaml")
    expected = {
        "gateway",
        "postgres",
        "jobs-worker",
        *MONITORING,
        *(e.name.replace("_", "-") for e in registry.enabled()),
    }
    assert set(document["services"]) == expected


def test_gpu_detectors_reserve_a_gpu_and_the_file_stays_valid(tmp_path, mixed_registry):
    path = tmp_path / "docker-compose.yml"
    path.write_text(render_compose(mixed_registry))
    validate(path)
    services = yaml.safe_load(path.read_text())["services"]
    # Not the disabled detector.
    assert set(services) == {"gateway", "postgres", "jobs-worker", *MONITORING, "gpu-model", "cpu-video"}
    gpu, cpu = services["gpu-model"], services["cpu-video"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == GPU_RESERVATION
    assert gpu["build"]["args"] == {"TORCH_VARIANT": "gpu"}
    assert "deploy" not in cpu and cpu["build"]["args"] == {"TORCH_VARIANT": "cpu"}
    assert cpu["build"]["dockerfile"] == "detectors/video_pkg/Dockerfile"
    assert cpu["environment"]["TRIBUNAL_PORT"] == "9202"


def test_the_cpu_variant_drops_every_gpu_reservation(tmp_path, mixed_registry):
    path = tmp_path / "compose.cpu.yml"
    path.write_text(render_compose(mixed_registry, cpu_only=True))
    validate(path)
    services = yaml.safe_load(path.read_text())["services"]
    assert all("deploy" not in s for s in services.values())
    assert services["gpu-model"]["build"]["args"] == {"TORCH_VARIANT": "cpu"}


def test_only_the_gateway_is_published_and_detectors_have_no_route_out(mixed_registry):
    document = compose_document(mixed_registry)
    services = document["services"]
    assert [name for name, s in services.items() if "ports" in s] == ["gateway", *MONITORING]
    assert services["gateway"]["ports"] == ["${TRIBUNAL_GATEWAY_PORT:-8000}:8000"]
    assert document["networks"]["backend"] == {"internal": True}
    for name in ("gpu-model", "cpu-video", "postgres"):
        assert services[name]["networks"] == ["backend"]
    assert services["gateway"]["networks"] == ["backend", "edge"]


def test_every_service_has_a_healthcheck_and_a_restart_policy(mixed_registry):
    for name, service in compose_document(mixed_registry)["services"].items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    detector = compose_document(mixed_registry)["services"]["gpu-model"]
    assert detector["healthcheck"]["test"][-1] == "/health"


def test_the_gateway_keeps_its_data_in_named_volumes_and_postgres_is_optional(mixed_registry):
    document = compose_document(mixed_registry)
    gateway = document["services"]["gateway"]
    assert "gateway-data:/data" in gateway["volumes"]
    assert "meta-learner-artifacts:/app/meta_learner/artifacts" in gateway["volumes"]
    assert gateway["environment"]["TRIBUNAL_DATA_DIR"] == "/data"
    assert gateway["environment"]["TRIBUNAL_DATABASE_URL"] == "${TRIBUNAL_DATABASE_URL:-}"
    assert gateway["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    assert document["services"]["postgres"]["profiles"] == ["postgres"]
    named = {"gateway-data", "meta-learner-artifacts", "postgres-data", *MONITORING_VOLUMES}
    assert set(document["volumes"]) == named


def test_the_gateway_reaches_detectors_by_service_name_inside_containers(mixed_registry):
    gateway = compose_document(mixed_registry)["services"]["gateway"]
    assert gateway["environment"]["TRIBUNAL_REGISTRY_PATH"] == "/app/config/detectors.containers.yaml"
    inside = containers_registry(mixed_registry)
    assert [e.url for e in inside.detectors] == [
        "http://gpu-model:9201",
        "http://cpu-video:9202",
        "http://switched-off:9203",
    ]
    # Only the URL differs from the local registry.
    for local, container in zip(mixed_registry.detectors, inside.detectors, strict=True):
        assert local.model_dump(exclude={"url"}) == container.model_dump(exclude={"url"})


def test_the_jobs_profile_adds_a_worker_that_shares_the_gateways_engine_setting_and_uploads(mixed_registry):
    """`docker compose --profile postgres --profile jobs up` runs batch jobs on worker containers; the
    default stack is unchanged (the worker is in a profile, the gateway's engine defaults to embedded)."""
    services = compose_document(mixed_registry)["services"]
    gateway, worker = services["gateway"], services["jobs-worker"]
    assert worker["profiles"] == ["jobs"] and "profiles" not in gateway
    assert worker["image"] == gateway["image"] and worker["command"] == [
        "python",
        "-m",
        "gateway.jobs.worker",
    ]
    # One variable for both: a worker refuses to start unless it says procrastinate, so it never runs
    # items beside a gateway that runs them itself.
    engine = "${TRIBUNAL_JOBS_ENGINE:-embedded}"
    assert (
        gateway["environment"]["TRIBUNAL_JOBS_ENGINE"]
        == worker["environment"]["TRIBUNAL_JOBS_ENGINE"]
        == engine
    )
    assert worker["environment"]["TRIBUNAL_DATABASE_URL"] == gateway["environment"]["TRIBUNAL_DATABASE_URL"]
    # The uploads wait in the gateway's data volume until a worker runs them.
    assert "gateway-data:/data" in worker["volumes"] and "gateway-data:/data" in gateway["volumes"]
    assert worker["networks"] == ["backend"] and "ports" not in worker
    assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "gateway.jobs.worker", "--check"]
