"""The metrics stack's files (scripts/monitoring.py): Prometheus configurations and rules pass
`promtool check`, every dashboard query is valid PromQL, compose and the kustomize overlay validate,
and all of it follows the registry. The live check of metric names is test_monitoring_live.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from gateway.registry import REPO_ROOT, load_registry, parse_registry
from scripts import deploy_files, generated_files, grafana_dashboard, k8s, metrics_up, monitoring
from scripts.compose import compose_document, render_compose
from support.repo_tree import copy_repo
from support.tools import run, tool

PROMETHEUS_DIR = REPO_ROOT / "deploy/prometheus"
GRAFANA_DIR = REPO_ROOT / "deploy/grafana"
OVERLAY = REPO_ROOT / "deploy/k8s/overlays/monitoring"
DASHBOARD = GRAFANA_DIR / "dashboards" / grafana_dashboard.FILE_NAME


def promtool() -> str:
    """Debian's promtool, or skip saying why (on CI, where `make test` installs it: fail)."""
    path = shutil.which("promtool")
    if path is None:
        why = (
            "promtool is not installed; `make prometheus` installs Debian's prometheus package as root "
            "(or: sudo apt-get install prometheus)"
        )
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


def check_config(path: Path) -> str:
    """`promtool check config`, which also checks the rule files the configuration names."""
    return run(promtool(), "check", "config", path.name, cwd=path.parent).stdout


def check_rules(path: Path) -> str:
    return run(promtool(), "check", "rules", str(path)).stdout


def rules_by_alert(rules_text: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            found.setdefault(rule["alert"], []).append(rule)
    return found


@pytest.fixture
def hard_registry(mixed_registry):
    """The shared mixed registry plus a hard dependency with a long timeout."""
    entries = [e.model_dump(mode="json") for e in mixed_registry.detectors]
    entries.append(
        {
            "name": "hard_one",
            "url": "http://127.0.0.1:9204",
            "port": 9204,
            "media_types": ["image"],
            "dependency": "hard",
            "timeout_s": 45.0,
        }
    )
    return parse_registry({"detectors": entries})


# --- promtool -------------------------------------------------------------------------------------


def test_the_committed_compose_and_kubernetes_configs_and_rules_pass_promtool():
    rules = len(rules_by_alert((PROMETHEUS_DIR / "rules.yml").read_text()))
    assert rules >= 6
    for config in (PROMETHEUS_DIR / "prometheus.yml", OVERLAY / "files/prometheus.yml"):
        out = check_config(config)
        assert "SUCCESS" in out and "1 rule files found" in out, out
    assert "SUCCESS" in check_rules(PROMETHEUS_DIR / "rules.yml")
    # The overlay carries a copy (kustomize reads only files under it); the drift test keeps them equal.
    assert (OVERLAY / "files/rules.yml").read_text() == (PROMETHEUS_DIR / "rules.yml").read_text()


def test_every_dashboard_query_is_valid_promql(tmp_path):
    """promtool parses each query as a recording rule: a typo would blank the panel without a word."""
    queries = monitoring.dashboard_queries(json.loads(DASHBOARD.read_text()))
    assert len(queries) >= 20
    rules = [{"record": f"tribunal:dashboard_query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = check_rules(path)
    assert f"SUCCESS: {len(rules)} rules found" in out, out


def test_rules_follow_the_registry_and_pass_promtool(tmp_path, hard_registry):
    path = tmp_path / "rules.yml"
    path.write_text(monitoring.render_rules(hard_registry))
    assert "SUCCESS" in check_rules(path)
    alerts = rules_by_alert(path.read_text())
    enabled = {"gpu_model", "cpu_video", "hard_one"}  # not the disabled switched_off

    down = {r["labels"]["detector"]: r for r in alerts["TribunalDetectorDown"]}
    assert set(down) == enabled
    assert all(r["for"] == "1m" for r in down.values())
    assert down["hard_one"]["labels"]["severity"] == "critical"
    assert down["gpu_model"]["labels"]["severity"] == "warning"
    assert 'absent(up{job="tribunal-detectors",detector="cpu_video"})' in down["cpu_video"]["expr"]
    (breaker,) = alerts["TribunalDetectorBreakerOpen"]
    assert breaker["for"] == "1m" and "tribunal_gateway_breaker_state) == 2" in breaker["expr"]

    slow = {r["labels"]["detector"]: r["expr"] for r in alerts["TribunalDetectorP99OverTimeout"]}
    assert set(slow) == enabled
    assert slow["hard_one"].rstrip().endswith("> 45")  # its own timeout_s
    assert slow["gpu_model"].rstrip().endswith("> 5")
    assert 'status="timeout"' in slow["hard_one"] and "0.01 *" in slow["hard_one"]

    (errors,) = alerts["TribunalGateway5xxAbove1Percent"]
    assert 'status=~"5.."' in errors["expr"] and errors["expr"].rstrip().endswith("> 0.01")
    assert "TribunalGatewayDown" in alerts
    # Drift: one rule on the gateway's own verdict (its drift_threshold and drift_min_window), per stream.
    (drift,) = alerts["TribunalScoreDrift"]
    assert drift["expr"] == "max by (detector) (tribunal_gateway_drift_alert) == 1"
    assert drift["for"] == "10m" and drift["labels"]["severity"] == "warning"
    assert "{{ $labels.detector }}" in drift["annotations"]["summary"]


def test_scrape_configs_name_every_enabled_detector_with_its_registry_name(tmp_path, hard_registry):
    compose = monitoring.compose_scrape_config(hard_registry)
    gateway, detectors = compose["scrape_configs"]
    assert gateway["static_configs"] == [{"targets": ["gateway:8000"]}]
    assert detectors["honor_labels"] is True
    assert detectors["static_configs"] == [
        {"targets": ["gpu-model:9201"], "labels": {"detector": "gpu_model"}},
        {"targets": ["cpu-video:9202"], "labels": {"detector": "cpu_video"}},
        {"targets": ["hard-one:9204"], "labels": {"detector": "hard_one"}},
    ]

    cluster = monitoring.k8s_scrape_config(hard_registry, "tribunal")
    gateway, detectors = cluster["scrape_configs"]
    assert gateway["dns_sd_configs"] == [
        {"names": ["gateway-metrics.tribunal.svc"], "type": "A", "port": 8000}
    ]
    assert [c["names"][0] for c in detectors["dns_sd_configs"]] == [
        "gpu-model-metrics.tribunal.svc",
        "cpu-video-metrics.tribunal.svc",
        "hard-one-metrics.tribunal.svc",
    ]
    first = detectors["relabel_configs"][0]
    assert (first["regex"], first["replacement"]) == (r"gpu-model-metrics\.tribunal\.svc", "gpu_model")

    for name, config in (("compose", compose), ("k8s", cluster)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "rules.yml").write_text(monitoring.render_rules(hard_registry))
        (folder / "prometheus.yml").write_text(monitoring.render_scrape_config(config, name))
        assert "SUCCESS" in check_config(folder / "prometheus.yml")


def test_metrics_up_renders_a_local_config_for_the_processes_of_make_start(tmp_path, mixed_registry):
    registry_path = tmp_path / "detectors.yaml"
    registry_path.write_text(
        yaml.safe_dump({"detectors": [e.model_dump(mode="json") for e in mixed_registry.detectors]})
    )
    rendered = metrics_up.render(tmp_path / "metrics", registry_path, gateway_port=8123, prometheus_port=9123)
    assert "SUCCESS" in check_config(rendered.prometheus_config)
    config = yaml.safe_load(rendered.prometheus_config.read_text())
    assert config["rule_files"] == [str(rendered.rules)]  # absolute: Prometheus runs from anywhere
    gateway, detectors = config["scrape_configs"]
    assert gateway["static_configs"][0]["targets"] == ["127.0.0.1:8123"]
    assert [c["targets"][0] for c in detectors["static_configs"]] == ["127.0.0.1:9201", "127.0.0.1:9202"]
    datasource = yaml.safe_load((rendered.grafana_provisioning / "datasources/tribunal.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:9123"
    assert datasource["datasources"][0]["uid"] == grafana_dashboard.DATASOURCE_UID
    provider = yaml.safe_load((rendered.grafana_provisioning / "dashboards/tribunal.yml").read_text())
    assert Path(provider["providers"][0]["options"]["path"]) == DASHBOARD.parent


# --- Grafana --------------------------------------------------------------------------------------


def test_the_dashboard_is_laid_out_on_the_grid_and_uses_the_provisioned_data_source():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"] == grafana_dashboard.DATASOURCE, panel["title"]
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in (
        "route",
        "p99",
        "timeouts",
        "errors",
        "abstentions",
        "unavailable",
        "breaker",
        "batch",
        "queue",
    ):
        assert topic in titles, topic
    assert "verdict mix" in titles

    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == grafana_dashboard.DATASOURCE_UID
    for source in (
        GRAFANA_DIR / "provisioning/datasources/tribunal.yml",
        OVERLAY / "files/grafana-datasource.yml",
    ):
        (datasource,) = yaml.safe_load(source.read_text())["datasources"]
        assert datasource["uid"] == grafana_dashboard.DATASOURCE_UID
        assert datasource["url"] == "http://prometheus:9090"  # the service name in compose and Kubernetes
    (provider,) = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/tribunal.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == monitoring.GRAFANA_DASHBOARDS_MOUNT
    assert (OVERLAY / "files" / grafana_dashboard.FILE_NAME).read_text() == DASHBOARD.read_text()


# --- docker compose -------------------------------------------------------------------------------


def test_compose_runs_prometheus_beside_the_detectors_and_grafana_on_localhost(tmp_path, mixed_registry):
    path = tmp_path / "docker-compose.yml"
    path.write_text(render_compose(mixed_registry))
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))
    services = compose_document(mixed_registry)["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    # On the internal network to reach the detectors; on edge to publish its port.
    assert prometheus["networks"] == ["backend", "edge"] and grafana["networks"] == ["edge"]
    assert prometheus["ports"] == ["127.0.0.1:${TRIBUNAL_PROMETHEUS_PORT:-9090}:9090"]
    assert grafana["ports"] == ["127.0.0.1:${TRIBUNAL_GRAFANA_PORT:-3000}:3000"]
    # Bind mounts of committed files, relative to the project directory (the repository).
    mounts = [v.split(":")[0] for s in (prometheus, grafana) for v in s["volumes"] if v.startswith("./")]
    assert mounts == ["./deploy/prometheus", "./deploy/grafana/provisioning", "./deploy/grafana/dashboards"]
    assert all((REPO_ROOT / m).is_dir() for m in mounts)
    assert prometheus["image"].split(":")[1] != "latest" and grafana["image"].split(":")[1] != "latest"


# --- Kubernetes -----------------------------------------------------------------------------------


def build(folder: Path, tmp_path: Path) -> list[dict]:
    """`kubectl kustomize` the folder and validate the result with `kubernetes-validate --strict`."""
    rendered = run(tool("kubectl"), "kustomize", str(folder)).stdout
    path = tmp_path / "rendered.yaml"
    path.write_text(rendered)
    run(tool("kubernetes-validate"), "--strict", str(path))
    return [d for d in yaml.safe_load_all(rendered) if d]


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def test_the_committed_monitoring_overlay_renders_and_validates(tmp_path):
    documents = build(OVERLAY, tmp_path)
    assert all(d["metadata"].get("namespace") == "tribunal" for d in documents if d["kind"] != "Namespace")
    deployments, services = by_kind(documents, "Deployment"), by_kind(documents, "Service")
    assert {"gateway", "prometheus", "grafana"} <= set(deployments)
    registry = load_registry(REPO_ROOT / "config/detectors.yaml")
    # A headless Service per workload lists every pod, ready or not, for Prometheus's DNS discovery.
    for name in ["gateway", *(e.name.replace("_", "-") for e in registry.enabled())]:
        headless = services[f"{name}-metrics"]["spec"]
        assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
        assert headless["selector"] == services[name]["spec"]["selector"]
        assert headless["ports"] == services[name]["spec"]["ports"]
    # The gpu overlay underneath is kept.
    gpu = [e for e in registry.enabled() if e.gpu]
    for entry in gpu:
        spec = deployments[entry.name.replace("_", "-")]["spec"]["template"]["spec"]
        assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1

    configmaps = by_kind(documents, "ConfigMap")
    prometheus_config = next(c for n, c in configmaps.items() if n.startswith("prometheus-config-"))
    assert prometheus_config["data"]["rules.yml"] == (PROMETHEUS_DIR / "rules.yml").read_text()
    dashboards = next(c for n, c in configmaps.items() if n.startswith("grafana-dashboards-"))
    assert json.loads(dashboards["data"][grafana_dashboard.FILE_NAME]) == json.loads(DASHBOARD.read_text())
    prometheus = deployments["prometheus"]["spec"]["template"]["spec"]
    assert prometheus["volumes"][0]["configMap"]["name"] == prometheus_config["metadata"]["name"]  # hashed


def test_the_overlay_follows_the_registry(tmp_path, mixed_registry):
    files = {**k8s.render_all(tmp_path, mixed_registry), **monitoring.render_all(tmp_path, mixed_registry)}
    generated_files.write(files, tmp_path)
    documents = build(tmp_path / "deploy/k8s/overlays/monitoring", tmp_path)
    headless = {n for n, s in by_kind(documents, "Service").items() if n.endswith("-metrics")}
    assert headless == {"gateway-metrics", "gpu-model-metrics", "cpu-video-metrics"}  # not the disabled one
    assert "SUCCESS" in check_config(tmp_path / "deploy/k8s/overlays/monitoring/files/prometheus.yml")


# --- drift ----------------------------------------------------------------------------------------


def test_the_metrics_files_are_part_of_the_drift_check(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    registry_path = repo / "config/detectors.yaml"
    registry = yaml.safe_load(registry_path.read_text())
    enabled = next(d for d in registry["detectors"] if d.get("enabled", True))
    enabled["timeout_s"] = 7.5
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    dashboard = repo / "deploy/grafana/dashboards" / grafana_dashboard.FILE_NAME
    dashboard.write_text(dashboard.read_text().replace("Verdict mix", "Verdicts", 1))
    stray = repo / "deploy/prometheus/extra.rules.yml"
    stray.write_text("groups: []\n")

    problems = deploy_files.check(repo)
    for path in ("deploy/prometheus/rules.yml", "deploy/k8s/overlays/monitoring/files/rules.yml"):
        assert f"{path}: differs from what the generator renders" in problems
    assert (
        f"deploy/grafana/dashboards/{grafana_dashboard.FILE_NAME}: differs from what the generator renders"
        in (problems)
    )
    assert "deploy/prometheus/extra.rules.yml: left over (nothing renders it any more)" in problems

    deploy_files.generate(repo)
    assert deploy_files.check(repo) == [] and not stray.exists()
    assert "> 7.5" in (repo / "deploy/prometheus/rules.yml").read_text()
