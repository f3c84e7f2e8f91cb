"""The Grafana dashboard of the metrics stack, as data (rendered to JSON by scripts/monitoring.py).

Every panel queries metrics the gateway (gateway/metrics.py) or a detector (the SDK's
tribunal_sdk/metrics.py) exposes today, plus Prometheus's own ``up``;
tests/deploy/test_monitoring_live.py checks each name against a running gateway and detector.
No metric carries the fused score yet, so there is no fused-score histogram (docs/operations.md).
"""

from __future__ import annotations

from typing import Any

FILE_NAME = "tribunal.json"
UID = "tribunal-overview"
DATASOURCE_UID = "tribunal-prometheus"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

RATE = "$__rate_interval"
DETECTOR = 'detector=~"$detector"'
USER_ROUTES = 'route!~"/metrics|/health"'
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))

BREAKER_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "closed", "color": "green", "index": 0},
            "1": {"text": "half-open", "color": "yellow", "index": 1},
            "2": {"text": "open", "color": "red", "index": 2},
        },
    }
]
UP_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "down", "color": "red", "index": 0},
            "1": {"text": "up", "color": "green", "index": 1},
        },
    }
]


class _Layout:
    """Panels flow left to right on Grafana's 24-column grid, a new row when one is full."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = 0
        self.row_height = 0

    def _id(self) -> int:
        return len(self.panels) + 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_height
            self.x = self.row_height = 0

    def add(self, panel: dict[str, Any], width: int, height: int = 8) -> None:
        if self.x + width > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)


def _targets(queries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
        for i, (expr, legend) in enumerate(queries)
    ]


def timeseries(
    title: str,
    queries: list[tuple[str, str]],
    unit: str,
    description: str,
    stacking: str = "none",
    bars: bool = False,
    thresholds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": stacking, "group": "A"},
    }
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        custom["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
    }


def histogram_bars(title: str, expr: str, description: str) -> dict[str, Any]:
    """Cumulative ``_bucket`` series shown as one bar per bucket (Grafana turns ``le`` into bins)."""
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": "short", "min": 0}, "overrides": []},
        "options": {"orientation": "vertical", "displayMode": "basic", "showUnfilled": False},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": "{{le}}",
                "format": "heatmap",
                "instant": True,
            }
        ],
    }


def state_timeline(
    title: str, queries: list[tuple[str, str]], mappings: list[dict[str, Any]], description: str
) -> dict[str, Any]:
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "mappings": mappings,
                "color": {"mode": "thresholds"},
                "custom": {"fillOpacity": 80},
            },
            "overrides": [],
        },
        "options": {"showValue": "auto", "mergeValues": True, "legend": {"showLegend": False}},
        "targets": _targets(queries),
    }


def quantiles(metric: str, by: str, selector: str = "") -> list[tuple[str, str]]:
    """p50/p95/p99 of a histogram per ``by`` label."""
    matchers = f"{{{selector}}}" if selector else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{matchers}[{RATE}])))",
            f"{{{{{by}}}}} {name}",
        )
        for name, q in QUANTILES
    ]


def outcome(status: str) -> list[tuple[str, str]]:
    return [
        (
            f'sum by (detector) (rate(tribunal_gateway_detector_calls_total{{{DETECTOR},status="{status}"}}[{RATE}]))',
            "{{detector}}",
        )
    ]


def _panels() -> list[dict[str, Any]]:
    grid = _Layout()

    grid.row("Gateway")
    grid.add(
        timeseries(
            "Requests per route",
            [
                (
                    f"sum by (route) (rate(tribunal_gateway_requests_total[{RATE}]))",
                    "{{route}}",
                )
            ],
            "reqps",
            "Every HTTP request the gateway answered, by route template.",
        ),
        12,
    )
    grid.add(
        timeseries(
            "Errors per route",
            [
                (
                    f'sum by (route, status) (rate(tribunal_gateway_requests_total{{status=~"[45].."}}[{RATE}]))',
                    "{{route}} {{status}}",
                )
            ],
            "reqps",
            "Requests answered 4xx (refused: bad input, auth, rate limits) or 5xx (failed).",
        ),
        12,
    )
    grid.add(
        timeseries(
            "Latency per route (p50 / p95 / p99)",
            quantiles("tribunal_gateway_request_duration_seconds", "route"),
            "s",
            "Request duration at the gateway, from the first byte in to the last byte out.",
        ),
        12,
    )
    grid.add(
        timeseries(
            "5xx share of user requests",
            [
                (
                    f'sum(rate(tribunal_gateway_requests_total{{{USER_ROUTES},status=~"5.."}}[{RATE}]))'
                    f" / sum(rate(tribunal_gateway_requests_total{{{USER_ROUTES}}}[{RATE}]))",
                    "5xx",
                )
            ],
            "percentunit",
            "The TribunalGateway5xxAbove1Percent alert fires above the red line (1 %). "
            "/metrics and /health are left out.",
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 0.01}],
        ),
        12,
    )

    grid.row("Detectors")
    grid.add(
        timeseries(
            "Detector round trip seen by the gateway (p50 / p95 / p99)",
            quantiles("tribunal_gateway_detector_latency_seconds", "detector", DETECTOR),
            "s",
            "Calls that reached the network, cut at the detector's timeout_s.",
        ),
        12,
    )
    grid.add(
        timeseries(
            "Detector request time inside the service (p50 / p95 / p99)",
            quantiles("tribunal_detector_request_seconds", "detector", DETECTOR),
            "s",
            "Decode to answer, measured by the detector itself (not cut at the gateway's timeout).",
        ),
        12,
    )
    for status, title, meaning in (
        ("timeout", "Timeouts", "no complete answer within the detector's timeout_s"),
        ("error", "Errors", "an error status or an invalid body"),
        ("abstained", "Abstentions", "no evidence either way; left out of fusion"),
        ("unavailable", "Unavailable", "unreachable, not ready (503), or its circuit breaker is open"),
    ):
        grid.add(
            timeseries(
                f"{title} per detector",
                outcome(status),
                "reqps",
                f"Gateway calls to each detector that ended `{status}`: {meaning}.",
            ),
            6,
        )
    grid.add(
        state_timeline(
            "Circuit breaker",
            [(f"max by (detector) (tribunal_gateway_breaker_state{{{DETECTOR}}})", "{{detector}}")],
            BREAKER_MAPPINGS,
            "The gateway's breaker per detector: open means no user request goes to it.",
        ),
        12,
    )
    grid.add(
        state_timeline(
            "Detector up and model loaded",
            [
                (f'min by (detector) (up{{job="tribunal-detectors",{DETECTOR}}})', "{{detector}} scraped"),
                (f"min by (detector) (tribunal_detector_ready{{{DETECTOR}}})", "{{detector}} ready"),
            ],
            UP_MAPPINGS,
            "Scraped: Prometheus reaches /metrics. Ready: the model is loaded (/ready answers 200).",
        ),
        12,
    )
    grid.add(
        timeseries(
            "Detector answers by HTTP status",
            [
                (
                    f"sum by (detector, status) (rate(tribunal_detector_requests_total{{{DETECTOR}}}[{RATE}]))",
                    "{{detector}} {{status}}",
                )
            ],
            "reqps",
            "Predict requests each detector answered, by status, counted by the detector.",
        ),
        24,
    )

    grid.row("Batching")
    grid.add(
        timeseries(
            "Batch size (mean, p50, p95)",
            [
                (
                    f"sum by (detector) (rate(tribunal_detector_batch_size_sum{{{DETECTOR}}}[{RATE}]))"
                    f" / sum by (detector) (rate(tribunal_detector_batch_size_count{{{DETECTOR}}}[{RATE}]))",
                    "{{detector}} mean",
                ),
                *quantiles("tribunal_detector_batch_size", "detector", DETECTOR)[:2],
            ],
            "short",
            "Items per predict_batch call.",
        ),
        8,
    )
    grid.add(
        timeseries(
            "Queue depth",
            [(f"sum by (detector) (tribunal_detector_queue_depth{{{DETECTOR}}})", "{{detector}}")],
            "short",
            "Items waiting for a batch, read when Prometheus scrapes.",
        ),
        8,
    )
    grid.add(
        timeseries(
            "Batch inference time (p50 / p95 / p99)",
            quantiles("tribunal_detector_batch_seconds", "detector", DETECTOR),
            "s",
            "Time of one predict_batch call.",
        ),
        8,
    )

    grid.row("Verdicts")
    grid.add(
        timeseries(
            "Verdict mix over time",
            [
                (
                    f"sum by (verdict) (rate(tribunal_gateway_verdicts_total[{RATE}])) * 60",
                    "{{verdict}}",
                )
            ],
            "short",
            "Detection answers per minute by verdict (stacked).",
            stacking="normal",
            bars=True,
        ),
        12,
    )
    grid.add(
        timeseries(
            "Verdict share by media type and method",
            [
                (
                    f"sum by (media_type, method, verdict) (rate(tribunal_gateway_verdicts_total[{RATE}]))",
                    "{{media_type}} {{method}} {{verdict}}",
                )
            ],
            "percentunit",
            "Share of each verdict (stacked to 100 %).",
            stacking="percent",
        ),
        12,
    )
    grid.add(
        histogram_bars(
            "Fused score histogram",
            "sum by (le) (increase(tribunal_gateway_fused_score_bucket[$__range]))",
            "Fused P(fake) of the answers in the time range, in tenths (every media type and method).",
        ),
        12,
    )
    grid.add(
        timeseries(
            "Score drift (PSI against the training reference)",
            [("max by (detector) (tribunal_gateway_drift_score)", "{{detector}}")],
            "short",
            "Population stability index of each detector's and fusion's live window against its "
            "out-of-fold training scores; over the threshold line the gateway calls it drifted.",
            thresholds=[
                {"color": "green", "value": None},
                {"color": "red", "value": 0.25},
            ],
        ),
        12,
    )
    return grid.panels


def dashboard() -> dict[str, Any]:
    return {
        "uid": UID,
        "title": "Tribunal",
        "description": "GENERATED by scripts/grafana_dashboard.py (make deploy-files); edit that, not this file.",
        "tags": ["tribunal"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Tribunal Prometheus", "value": DATASOURCE_UID},
                    "hide": 0,
                },
                {
                    "name": "detector",
                    "label": "Detector",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {
                        "query": "label_values(tribunal_gateway_breaker_state, detector)",
                        "refId": "detector",
                    },
                    "definition": "label_values(tribunal_gateway_breaker_state, detector)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": _panels(),
    }
