"""The metrics stack, generated from the registry: Prometheus scrape configuration and alert rules,
Grafana provisioning and dashboard, and the ``deploy/k8s/overlays/monitoring`` kustomize overlay.

    deploy/prometheus/prometheus.yml     scrape config for docker compose (targets by service name)
    deploy/prometheus/rules.yml          alert rules, one set per enabled detector (its timeout_s)
    deploy/grafana/provisioning/...      the Prometheus data source and the dashboard provider
    deploy/grafana/dashboards/*.json     the dashboard (scripts/grafana_dashboard.py)
    deploy/k8s/overlays/monitoring/      the gpu overlay plus Prometheus (every pod a target, found via
                                         a headless Service per workload) and Grafana, configured from
                                         copies of the files above (kustomize reads only files under
                                         the overlay)

``python -m scripts.deploy_files generate`` writes them with the other deployment files and
``check`` reports drift. ``make metrics-up`` (scripts/metrics_up.py) renders a third scrape config,
for the processes of ``make start`` on 127.0.0.1, into var/.

Job names and the ``detector`` target label are the same in all three configurations, so one rules
file and one dashboard serve compose, Kubernetes and the local stack. Every metric name the rules
and the dashboard query is checked against a running gateway and detector
(tests/deploy/test_monitoring_live.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gateway.registry import DetectorEntry, Registry, load_registry
from scripts import generated_files, grafana_dashboard
from scripts.deploy_names import GATEWAY_PORT, GATEWAY_SERVICE, service_name
from scripts.k8s import NAMESPACE
from scripts.k8s import _labels as workload_labels
from tribunal_home import REPO_ROOT

PROMETHEUS_DIR = Path("deploy/prometheus")
GRAFANA_DIR = Path("deploy/grafana")
K8S_OVERLAY = Path("deploy/k8s/overlays/monitoring")
OWNED_DIRS = (PROMETHEUS_DIR, GRAFANA_DIR)

PROMETHEUS_IMAGE = "prom/prometheus:v2.53.4"
GRAFANA_IMAGE = "grafana/grafana:11.6.0"
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
PROMETHEUS_SERVICE = "prometheus"
GRAFANA_SERVICE = "grafana"

GATEWAY_JOB = "tribunal-gateway"
DETECTOR_JOB = "tribunal-detectors"
SCRAPE_INTERVAL = "15s"
RULES_FILE = "rules.yml"
DATASOURCE_UID = grafana_dashboard.DATASOURCE_UID
# Where Grafana reads dashboard JSON in the containers (compose bind mount, Kubernetes ConfigMap).
GRAFANA_DASHBOARDS_MOUNT = "/etc/grafana/dashboards"

# How long a detector must be down, or its breaker open, before the alert fires (the issue's "a minute").
DOWN_FOR = "1m"
# A model may take this long to load (the Kubernetes startup probe allows 15 minutes).
NOT_READY_FOR = "15m"
# 5xx share and the share of timed-out calls above which p99 is past the timeout.
ERROR_RATIO = 0.01
RATE_WINDOW = "5m"
# How long a stream must stay drifted before the alert fires: a short burst of unusual uploads (one user's
# batch of screenshots) moves the window for minutes, not for this long (docs/operations.md, "Drift").
DRIFT_FOR = "10m"
# Routes that are not user traffic: Prometheus's own scrapes and liveness probes.
OPERATIONAL_ROUTES = "/metrics|/health"

HEADER = (
    "# GENERATED from config/detectors.yaml by `python -m scripts.deploy_files generate`; do not edit.\n"
    "# Change the registry (or scripts/monitoring.py) and regenerate. docs/operations.md explains it.\n"
)


class _Dumper(generated_files._Dumper):
    """generated_files' style, with multi-line strings (PromQL) as literal blocks people can read."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(*documents: Any) -> str:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, width=120)


# --- Prometheus scrape configurations -------------------------------------------------------------


def _detector_label(entry: DetectorEntry) -> dict[str, str]:
    return {"detector": entry.name}


def static_scrape_config(
    registry: Registry,
    gateway_target: str,
    detector_target: Callable[[DetectorEntry], str],
    rule_files: list[str],
    scrape_interval: str = SCRAPE_INTERVAL,
) -> dict[str, Any]:
    """A Prometheus configuration with fixed targets: the gateway and each enabled detector, which
    carries its registry name as the ``detector`` label (also on ``up``, so a down detector is named)."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": rule_files,
        "scrape_configs": [
            {"job_name": GATEWAY_JOB, "static_configs": [{"targets": [gateway_target]}]},
            {
                "job_name": DETECTOR_JOB,
                # The SDK labels its own metrics with `detector` already; keep its value.
                "honor_labels": True,
                "static_configs": [
                    {"targets": [detector_target(e)], "labels": _detector_label(e)}
                    for e in registry.enabled()
                ],
            },
        ],
    }


def compose_scrape_config(registry: Registry) -> dict[str, Any]:
    return static_scrape_config(
        registry,
        f"{GATEWAY_SERVICE}:{GATEWAY_PORT}",
        lambda e: f"{service_name(e.name)}:{e.port}",
        [RULES_FILE],
    )


def local_scrape_config(
    registry: Registry, gateway_port: int, rule_file: str, scrape_interval: str = SCRAPE_INTERVAL
) -> dict[str, Any]:
    """For ``make metrics-up``: the processes of ``make start`` on this machine."""
    return static_scrape_config(
        registry, f"127.0.0.1:{gateway_port}", lambda e: f"127.0.0.1:{e.port}", [rule_file], scrape_interval
    )


def metrics_service_name(service: str) -> str:
    """The headless Service (overlay only) whose DNS name lists every pod of ``service``."""
    return f"{service}-metrics"


def k8s_scrape_config(registry: Registry, namespace: str) -> dict[str, Any]:
    """Kubernetes: every pod of the gateway and of each detector, found through a headless Service
    per workload (DNS A records, one per pod), so each replica is its own target. A scrape through
    the ordinary Service would reach a random replica each time and mix their counters."""

    def dns(service: str, port: int) -> dict[str, Any]:
        return {"names": [f"{metrics_service_name(service)}.{namespace}.svc"], "type": "A", "port": port}

    detectors = registry.enabled()
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": GATEWAY_JOB, "dns_sd_configs": [dns(GATEWAY_SERVICE, GATEWAY_PORT)]},
            {
                "job_name": DETECTOR_JOB,
                "honor_labels": True,
                "dns_sd_configs": [dns(service_name(e.name), e.port) for e in detectors],
                # The registry name as the `detector` label, as in the other configurations.
                "relabel_configs": [
                    {
                        "source_labels": ["__meta_dns_name"],
                        "regex": f"{metrics_service_name(service_name(e.name))}.{namespace}.svc".replace(
                            ".", r"\."
                        ),
                        "target_label": "detector",
                        "replacement": e.name,
                    }
                    for e in detectors
                ],
            },
        ],
    }


# --- Alert rules ----------------------------------------------------------------------------------


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str, **labels: str):
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description},
    }


def _up(job: str, detector: str | None = None) -> str:
    selector = f'job="{job}"' + (f',detector="{detector}"' if detector else "")
    # absent(): a target Kubernetes no longer lists (no pod at all) has no `up` series to be 0.
    return f"up{{{selector}}} == 0 or absent(up{{{selector}}})"


def _severity(entry: DetectorEntry) -> str:
    # A hard dependency's failure fails every request; a soft one's only degrades the answer.
    return "critical" if entry.dependency == "hard" else "warning"


def p99_over_timeout_expr(entry: DetectorEntry) -> str:
    """True when the detector's p99 is past its timeout_s, seen two ways.

    The gateway cuts a call at timeout_s, so its own latency histogram cannot go past it: "p99 over
    the timeout" there means more than 1 % of the calls that reached the network timed out. The
    detector's own request histogram is not cut, so its p99 is compared with timeout_s directly
    (its largest finite bucket is 30 s: for longer timeouts only the first test can fire).
    """
    sel = f'detector="{entry.name}"'
    reached = f'{sel},status=~"ok|abstained|error|timeout"'
    timed_out = f'{sel},status="timeout"'
    return (
        f"sum by (detector) (rate(tribunal_gateway_detector_calls_total{{{timed_out}}}[{RATE_WINDOW}]))\n"
        f"  > {ERROR_RATIO:g} * sum by (detector) (rate(tribunal_gateway_detector_calls_total{{{reached}}}[{RATE_WINDOW}]))\n"
        "or\n"
        f"histogram_quantile(0.99, sum by (detector, le) (rate(tribunal_detector_request_seconds_bucket{{{sel}}}[{RATE_WINDOW}])))\n"
        f"  > {entry.timeout_s:g}"
    )


def error_ratio_expr() -> str:
    user = f'route!~"{OPERATIONAL_ROUTES}"'
    return (
        f'sum(rate(tribunal_gateway_requests_total{{{user},status=~"5.."}}[{RATE_WINDOW}]))\n'
        f"  / sum(rate(tribunal_gateway_requests_total{{{user}}}[{RATE_WINDOW}]))\n"
        f"  > {ERROR_RATIO:g}"
    )


def alert_rules(registry: Registry) -> dict[str, Any]:
    detectors = registry.enabled()
    availability = [
        _alert(
            "TribunalGatewayDown",
            _up(GATEWAY_JOB),
            DOWN_FOR,
            "critical",
            "The Tribunal gateway is down",
            "Prometheus could not scrape {{ $labels.instance }} for a minute.",
        )
    ]
    availability += [
        _alert(
            "TribunalDetectorDown",
            _up(DETECTOR_JOB, e.name),
            DOWN_FOR,
            _severity(e),
            f"Detector {e.name} is down",
            f"{e.name} ({e.dependency} dependency) has not answered a scrape for a minute; "
            "the gateway answers without it (degraded) or, for a hard dependency, fails.",
            detector=e.name,
        )
        for e in detectors
    ]
    availability += [
        _alert(
            "TribunalDetectorBreakerOpen",
            "max by (detector) (tribunal_gateway_breaker_state) == 2",
            DOWN_FOR,
            "warning",
            "The gateway's circuit breaker for {{ $labels.detector }} is open",
            "No user request has gone to {{ $labels.detector }} for a minute: it timed out or kept "
            "failing, and its /ready probe has not closed the breaker again.",
        ),
        _alert(
            "TribunalDetectorNotReady",
            "tribunal_detector_ready == 0",
            NOT_READY_FOR,
            "warning",
            "Detector {{ $labels.detector }} has not loaded its model",
            "{{ $labels.detector }} answers /health but not /ready after 15 minutes (missing "
            "weights?); its /ready body says why.",
        ),
    ]
    latency = [
        _alert(
            "TribunalDetectorP99OverTimeout",
            p99_over_timeout_expr(e),
            RATE_WINDOW,
            "warning",
            f"Detector {e.name}: p99 latency is past its {e.timeout_s:g} s timeout",
            f"More than 1 % of the gateway's calls to {e.name} timed out over {RATE_WINDOW}, or its "
            f"own p99 request time is over timeout_s ({e.timeout_s:g} s in config/detectors.yaml).",
            detector=e.name,
        )
        for e in detectors
    ]
    errors = [
        _alert(
            "TribunalGateway5xxAbove1Percent",
            error_ratio_expr(),
            RATE_WINDOW,
            "critical",
            "More than 1 % of gateway requests fail with 5xx",
            f"5xx answers are {{{{ $value | humanizePercentage }}}} of requests over {RATE_WINDOW} "
            f"(routes other than {OPERATIONAL_ROUTES}).",
        )
    ]
    drift = [
        _alert(
            "TribunalScoreDrift",
            # The gateway applies drift_threshold and drift_min_window itself (gateway/drift.py), so the
            # threshold lives in one place; max over the gateway's replicas, each with its own window.
            "max by (detector) (tribunal_gateway_drift_alert) == 1",
            DRIFT_FOR,
            "warning",
            "The scores of {{ $labels.detector }} no longer look like its training scores",
            "The last scores of {{ $labels.detector }} (a detector, or fused:<method>) have drifted from its "
            f"out-of-fold training distribution (PSI at or over tribunal_gateway_drift_threshold) for {DRIFT_FOR}: "
            "a new generator, camera app or re-encoding may be coming in. GET /stats/drift has the statistic "
            "and the window; check recent verdicts, then retrain (make train-detector, make retrain).",
        )
    ]
    return {
        "groups": [
            {"name": "tribunal-availability", "rules": availability},
            {"name": "tribunal-latency", "rules": latency},
            {"name": "tribunal-errors", "rules": errors},
            {"name": "tribunal-drift", "rules": drift},
        ]
    }


RULES_NOTE = """\
# Alerts: the gateway or a detector down, or a breaker open, for a minute; a detector's p99 past its
# timeout_s (one rule per enabled detector); 5xx above 1 % of user requests; a detector's or a fusion's
# scores drifted from their training distribution for 10 minutes (the gateway's drift_threshold).
"""


def render_rules(registry: Registry) -> str:
    return HEADER + RULES_NOTE + dump_yaml(alert_rules(registry))


def render_scrape_config(config: dict[str, Any], note: str) -> str:
    return HEADER + "".join(f"# {line}\n" for line in note.splitlines()) + dump_yaml(config)


# --- Grafana provisioning -------------------------------------------------------------------------


def grafana_datasource(url: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Tribunal Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": url,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": SCRAPE_INTERVAL},
            }
        ],
    }


def grafana_dashboard_provider(path: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "tribunal",
                "folder": "Tribunal",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": path},
            }
        ],
    }


def render_dashboard() -> str:
    return json.dumps(grafana_dashboard.dashboard(), indent=2) + "\n"


# --- docker compose -------------------------------------------------------------------------------


def _wget_healthcheck(url: str) -> dict[str, Any]:
    return {
        "test": ["CMD", "wget", "-q", "-O", "/dev/null", url],
        "interval": "30s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "20s",
    }


def compose_services(backend: str, edge: str) -> dict[str, dict[str, Any]]:
    """Prometheus (on the detectors' internal network to scrape them, and on the edge network to
    publish its port) and Grafana; both published on 127.0.0.1 only."""
    return {
        PROMETHEUS_SERVICE: {
            "image": PROMETHEUS_IMAGE,
            "restart": "unless-stopped",
            "command": [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                "--storage.tsdb.retention.time=15d",
            ],
            "ports": [f"127.0.0.1:${{TRIBUNAL_PROMETHEUS_PORT:-{PROMETHEUS_PORT}}}:{PROMETHEUS_PORT}"],
            "volumes": [f"./{PROMETHEUS_DIR}:/etc/prometheus:ro", "prometheus-data:/prometheus"],
            "networks": [backend, edge],
            "healthcheck": _wget_healthcheck(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready"),
        },
        GRAFANA_SERVICE: {
            "image": GRAFANA_IMAGE,
            "restart": "unless-stopped",
            "environment": {
                "GF_SECURITY_ADMIN_PASSWORD": "${TRIBUNAL_GRAFANA_ADMIN_PASSWORD:-admin}",
                "GF_AUTH_ANONYMOUS_ENABLED": "true",
                "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                "GF_USERS_ALLOW_SIGN_UP": "false",
                "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": f"{GRAFANA_DASHBOARDS_MOUNT}/{grafana_dashboard.FILE_NAME}",
            },
            "ports": [f"127.0.0.1:${{TRIBUNAL_GRAFANA_PORT:-{GRAFANA_PORT}}}:{GRAFANA_PORT}"],
            "volumes": [
                f"./{GRAFANA_DIR}/provisioning:/etc/grafana/provisioning:ro",
                f"./{GRAFANA_DIR}/dashboards:{GRAFANA_DASHBOARDS_MOUNT}:ro",
                "grafana-data:/var/lib/grafana",
            ],
            "networks": [edge],
            "depends_on": {PROMETHEUS_SERVICE: {"condition": "service_started"}},
            "healthcheck": _wget_healthcheck(f"http://127.0.0.1:{GRAFANA_PORT}/api/health"),
        },
    }


COMPOSE_VOLUMES = ("prometheus-data", "grafana-data")


# --- Kubernetes overlay ---------------------------------------------------------------------------


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "monitoring"}


def _pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _http_probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _service(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {"selector": _labels(name), "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
    }


def _deployment(name: str, uid: int, container: dict[str, Any], volumes: list[dict[str, Any]], **spec):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": 1,
            # One writer per data folder: the old pod goes before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _labels(name)},
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    **spec,
                    "securityContext": _pod_security(uid),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def metrics_services(registry: Registry) -> list[dict[str, Any]]:
    """A headless Service per workload (the gateway and each enabled detector) selecting the same pods
    as its ordinary Service; not-ready pods are listed too, so a detector still loading is scraped."""
    workloads = [(GATEWAY_SERVICE, "gateway", GATEWAY_PORT)]
    workloads += [(service_name(e.name), "detector", e.port) for e in registry.enabled()]
    services = []
    for name, component, port in workloads:
        metrics = metrics_service_name(name)
        services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": metrics, "labels": _labels(metrics)},
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": workload_labels(name, component),
                    "ports": [{"name": "http", "port": port, "targetPort": "http"}],
                },
            }
        )
    return services


def prometheus_manifests() -> list[dict[str, Any]]:
    name = PROMETHEUS_SERVICE
    container = {
        "name": name,
        "image": PROMETHEUS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=15d",
        ],
        "ports": [{"name": "http", "containerPort": PROMETHEUS_PORT}],
        "readinessProbe": _http_probe("/-/ready", period=10, failures=3),
        "livenessProbe": _http_probe("/-/healthy", period=20, failures=3),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
            {"name": "data", "mountPath": "/prometheus"},
        ],
    }
    volumes = [
        {"name": "config", "configMap": {"name": "prometheus-config"}},
        # Scratch: the history goes with the pod. Swap in a PersistentVolumeClaim to keep it.
        {"name": "data", "emptyDir": {}},
    ]
    # It needs no Kubernetes API access: targets come from DNS (metrics_services).
    return [
        _deployment(name, 65534, container, volumes, automountServiceAccountToken=False),
        _service(name, PROMETHEUS_PORT),
    ]


GRAFANA_SECRET = "tribunal-grafana"


def grafana_manifests() -> list[dict[str, Any]]:
    name = GRAFANA_SERVICE
    container = {
        "name": name,
        "image": GRAFANA_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {
                "name": "GF_SECURITY_ADMIN_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": GRAFANA_SECRET, "key": "admin-password", "optional": True}
                },
            },
            {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "true"},
            {"name": "GF_AUTH_ANONYMOUS_ORG_ROLE", "value": "Viewer"},
            {"name": "GF_USERS_ALLOW_SIGN_UP", "value": "false"},
            {
                "name": "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                "value": f"{GRAFANA_DASHBOARDS_MOUNT}/{grafana_dashboard.FILE_NAME}",
            },
        ],
        "ports": [{"name": "http", "containerPort": GRAFANA_PORT}],
        "readinessProbe": _http_probe("/api/health", period=10, failures=3),
        "livenessProbe": _http_probe("/api/health", period=20, failures=3),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "provisioning", "mountPath": "/etc/grafana/provisioning", "readOnly": True},
            {"name": "dashboards", "mountPath": GRAFANA_DASHBOARDS_MOUNT, "readOnly": True},
            {"name": "data", "mountPath": "/var/lib/grafana"},
        ],
    }
    volumes = [
        {
            "name": "provisioning",
            "configMap": {
                "name": "grafana-provisioning",
                "items": [
                    {"key": "datasource.yml", "path": "datasources/tribunal.yml"},
                    {"key": "dashboards.yml", "path": "dashboards/tribunal.yml"},
                ],
            },
        },
        {"name": "dashboards", "configMap": {"name": "grafana-dashboards"}},
        # Everything Grafana keeps is provisioned from the ConfigMaps, so scratch is enough.
        {"name": "data", "emptyDir": {}},
    ]
    return [
        _deployment(name, 472, container, volumes, automountServiceAccountToken=False),
        _service(name, GRAFANA_PORT),
    ]


def _dump(*documents: dict[str, Any], note: str = "") -> str:
    comment = "".join(f"# {line}\n" for line in note.splitlines())
    return HEADER + comment + dump_yaml(*documents)


def k8s_overlay(registry: Registry, rules: str, dashboard: str, namespace: str) -> dict[Path, str]:
    files = K8S_OVERLAY / "files"
    prometheus_url = f"http://{PROMETHEUS_SERVICE}:{PROMETHEUS_PORT}"
    return {
        K8S_OVERLAY / "kustomization.yaml": _dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": namespace,
                "labels": [{"pairs": {"app.kubernetes.io/part-of": "tribunal"}}],
                "resources": ["../gpu", "prometheus.yaml", "grafana.yaml"],
                # Hashed names: a changed rule or dashboard rolls the pod that reads it.
                "configMapGenerator": [
                    {
                        "name": "prometheus-config",
                        "files": ["prometheus.yml=files/prometheus.yml", f"{RULES_FILE}=files/{RULES_FILE}"],
                    },
                    {
                        "name": "grafana-provisioning",
                        "files": [
                            "datasource.yml=files/grafana-datasource.yml",
                            "dashboards.yml=files/grafana-dashboards.yml",
                        ],
                    },
                    {
                        "name": "grafana-dashboards",
                        "files": [f"{grafana_dashboard.FILE_NAME}=files/{grafana_dashboard.FILE_NAME}"],
                    },
                ],
            },
            note="The gpu overlay plus Prometheus and Grafana (docs/operations.md). To monitor another\n"
            "overlay, copy this one and change `../gpu`.",
        ),
        K8S_OVERLAY / "prometheus.yaml": _dump(*prometheus_manifests(), *metrics_services(registry)),
        K8S_OVERLAY / "grafana.yaml": _dump(*grafana_manifests()),
        files / "prometheus.yml": render_scrape_config(
            k8s_scrape_config(registry, namespace),
            "Kubernetes: every pod of the gateway and of each enabled detector, listed by the headless\n"
            "<service>-metrics Services of prometheus.yaml.",
        ),
        files / RULES_FILE: rules,
        files / "grafana-datasource.yml": _dump(grafana_datasource(prometheus_url)),
        files / "grafana-dashboards.yml": _dump(grafana_dashboard_provider(GRAFANA_DASHBOARDS_MOUNT)),
        files / grafana_dashboard.FILE_NAME: dashboard,
    }


# --- what the stack queries -----------------------------------------------------------------------

# Grafana's variables, replaced by values Prometheus accepts so a dashboard query can be checked.
GRAFANA_VARIABLES = {
    "$__rate_interval": RATE_WINDOW,
    "$__interval": "1m",
    "$__range": "1h",
    "$detector": ".*",
}
_LABEL_VALUES = re.compile(r"^label_values\((?P<metric>[^,]+),\s*(?P<label>\w+)\)$")


def as_promql(query: str) -> str:
    """A dashboard query as plain PromQL: Grafana's variables substituted, and its templating call
    ``label_values(metric, label)`` written as the equivalent ``group by (label) (metric)``."""
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    match = _LABEL_VALUES.match(query.strip())
    return f"group by ({match['label']}) ({match['metric']})" if match else query


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable of a dashboard."""
    queries = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            queries.append(
                (
                    f"variable {variable['name']}",
                    as_promql(query.get("query", "") if isinstance(query, dict) else query),
                )
            )
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['title']!r} {target['refId']}", as_promql(target["expr"])))
    return queries


def rule_queries(rules: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every rule of a rules file."""
    return [
        (f"rule {rule.get('alert') or rule.get('record')} ({group['name']})", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


# --- everything -----------------------------------------------------------------------------------


def render_all(root: Path = REPO_ROOT, registry: Registry | None = None) -> dict[Path, str]:
    registry = registry or load_registry(root / "config" / "detectors.yaml")
    rules = render_rules(registry)
    dashboard = render_dashboard()
    prometheus_url = f"http://{PROMETHEUS_SERVICE}:{PROMETHEUS_PORT}"
    files = {
        PROMETHEUS_DIR / "prometheus.yml": render_scrape_config(
            compose_scrape_config(registry),
            "docker compose: the gateway and every enabled detector by service name (docker-compose.yml\n"
            "mounts this folder at /etc/prometheus). `make metrics-up` renders the same for 127.0.0.1.",
        ),
        PROMETHEUS_DIR / RULES_FILE: rules,
        GRAFANA_DIR / "provisioning/datasources/tribunal.yml": _dump(grafana_datasource(prometheus_url)),
        GRAFANA_DIR / "provisioning/dashboards/tribunal.yml": _dump(
            grafana_dashboard_provider(GRAFANA_DASHBOARDS_MOUNT)
        ),
        GRAFANA_DIR / "dashboards" / grafana_dashboard.FILE_NAME: dashboard,
    }
    files.update(k8s_overlay(registry, rules, dashboard, NAMESPACE))
    return files
