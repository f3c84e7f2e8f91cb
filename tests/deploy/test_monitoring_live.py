"""Every metric a dashboard panel or an alert rule queries is exposed by a running gateway or detector,
so a renamed metric cannot silently blank a panel; and `make metrics-up` (scripts/metrics_up.py)
scrapes a real local stack with Debian's Prometheus."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.registry import REPO_ROOT
from scripts import grafana_dashboard, monitoring
from scripts.local_stack import LocalStack, free_port
from support.media import png_bytes
from support.stack import detector_entry, running_stack

pytestmark = pytest.mark.integration

DASHBOARD = REPO_ROOT / "deploy/grafana/dashboards" / grafana_dashboard.FILE_NAME
RULES = REPO_ROOT / "deploy/prometheus/rules.yml"
# Series Prometheus makes itself for every target rather than scraping them.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}

# --- metric names in PromQL -----------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]")  # label matchers; range and subquery selectors
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# An identifier not glued to a number (5m, 1e3) or a previous identifier.
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (``foo_bucket`` stays ``foo_bucket``: the samples
    a histogram exposes carry the suffix, and those are what the query needs).

    Strings, label matchers and durations go first, then grouping label lists; of what is left, an
    identifier followed by ``(`` is a function or aggregation, a keyword is a keyword, and every other
    identifier is a metric name.
    """
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(1)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def test_metric_names_are_read_out_of_promql():
    assert metric_names(
        'histogram_quantile(0.99, sum by (detector, le) (rate(foo_seconds_bucket{detector=~"a|b"}[5m])))'
    ) == {"foo_seconds_bucket"}
    assert metric_names(
        'sum(rate(a_total{route!~"/metrics|/health",status=~"5.."}[5m])) / sum(rate(a_total[5m])) > 0.01'
    ) == {"a_total"}
    assert metric_names('up{job="x"} == 0 or absent(up{job="x"})') == {"up"}
    assert metric_names("max by (detector) (b_state) == 2 unless on (detector) c offset 5m") == {
        "b_state",
        "c",
    }
    assert metric_names("sum(x) without (le) * 60 + rate(y[1h:5m]) > bool 1e-3") == {"x", "y"}
    assert metric_names('label_replace(z, "dst", "$1", "src", "(.*)")') == {"z"}
    assert metric_names("group by (detector) (ns:rule:rate5m)") == {"ns:rule:rate5m"}


def queried() -> dict[str, set[str]]:
    """metric name -> where the committed dashboard and rules query it."""
    queries = monitoring.dashboard_queries(json.loads(DASHBOARD.read_text()))
    queries += monitoring.rule_queries(yaml.safe_load(RULES.read_text()))
    where: dict[str, set[str]] = {}
    for place, expr in queries:
        for name in metric_names(expr):
            where.setdefault(name, set()).add(place)
    return where


def exposed_samples(text: str) -> set[str]:
    """Names of the samples in a /metrics answer (``_bucket``, ``_sum``, ``_count``, ``_total`` included)."""
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


# --- a real stack ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LocalStack]:
    """The real gateway and a cheap real detector, after a few /detect requests."""
    tmp = tmp_path_factory.mktemp("monitoring")
    with running_stack(
        tmp, [detector_entry("latency_probe")], env={"TRIBUNAL_LOG_LEVEL": "WARNING"}
    ) as stack:
        gateway = stack.service("gateway").url
        for seed in range(3):
            answer = httpx.post(
                f"{gateway}/detect",
                files={"file": (f"p{seed}.png", png_bytes((48, 40), (40 * seed, 90, 160)), "image/png")},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        yield stack


def test_every_metric_the_dashboard_and_rules_query_is_exposed(stack):
    gateway = httpx.get(stack.service("gateway").url + "/metrics", timeout=10)
    detector = httpx.get(stack.service("latency_probe").url + "/metrics", timeout=10)
    assert gateway.status_code == 200 and detector.status_code == 200
    exposed = exposed_samples(gateway.text) | exposed_samples(detector.text)

    where = queried()
    # Sanity: both services' metrics and every part of the dashboard are in what was read.
    assert {"tribunal_gateway_requests_total", "tribunal_detector_batch_size_bucket", "up"} <= set(where)
    missing = {name: sorted(places) for name, places in where.items() if name not in exposed | SYNTHETIC}
    assert not missing, "queried but exposed by neither the gateway nor the detector:\n" + "\n".join(
        f"  {name}: {', '.join(places)}" for name, places in sorted(missing.items())
    )


# --- make metrics-up ------------------------------------------------------------------------------


def _prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        why = (
            "the prometheus binary is not installed; `make prometheus` installs Debian's package as root "
            "(or: sudo apt-get install prometheus)"
        )
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


def _query(base: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]["result"]


def _until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"not within {timeout_s:.0f} s: {what}")


def test_metrics_up_scrapes_the_stack_and_stops_on_ctrl_c(stack, tmp_path):
    _prometheus()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "scripts.metrics_up",
        "--registry",
        str(stack.registry_path),
        "--gateway-port",
        str(stack.gateway_port),
        "--prometheus-port",
        str(port),
        "--dir",
        str(tmp_path / "metrics"),
        "--scrape-interval",
        "1s",
        "--no-grafana",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        def targets_up():
            try:
                targets = httpx.get(f"{base}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
            except httpx.HTTPError:
                return None
            return targets if len(targets) == 2 and all(t["health"] == "up" for t in targets) else None

        targets = _until(targets_up, 60, "Prometheus scrapes the gateway and the detector")
        assert {t["labels"]["job"] for t in targets} == {monitoring.GATEWAY_JOB, monitoring.DETECTOR_JOB}
        (probe,) = _query(base, 'up{job="tribunal-detectors",detector="latency_probe"}')
        assert probe["value"][1] == "1"
        # honor_labels: the detector's own `detector` label is kept, not renamed exported_detector.
        (ready,) = _query(base, "tribunal_detector_ready")
        assert ready["metric"]["detector"] == "latency_probe" and "exported_detector" not in ready["metric"]

        # Every query of the dashboard and the rules evaluates against the live data.
        queries = monitoring.dashboard_queries(json.loads(DASHBOARD.read_text()))
        queries += monitoring.rule_queries(yaml.safe_load(RULES.read_text()))
        for _, expr in queries:
            _query(base, expr)
        assert _query(base, "max by (detector) (tribunal_gateway_breaker_state)")[0]["value"][1] == "0"

        rules = httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]
        names = {rule["name"] for group in rules for rule in group["rules"]}
        assert {
            "TribunalDetectorDown",
            "TribunalDetectorBreakerOpen",
            "TribunalGateway5xxAbove1Percent",
        } <= names
        assert {"TribunalDetectorP99OverTimeout", "TribunalGatewayDown", "TribunalDetectorNotReady"} <= names
        # A healthy stack raises nothing.
        alerts = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        assert alerts == []
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Prometheus  " in output and "stopped." in output
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/-/ready", timeout=2)
