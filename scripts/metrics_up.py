"""``make metrics-up``: Prometheus, and Grafana where it is installed, beside ``make start`` (no Docker).

    python -m scripts.metrics_up                        # foreground; Ctrl-C stops it
    python -m scripts.metrics_up --prometheus-port 9091 --no-grafana

Prometheus is Debian's binary (``make prometheus`` installs it). Its configuration is rendered into
var/metrics/ from the same generator as deploy/prometheus/ (scripts/monitoring.py): the gateway at
the port config/gateway.yaml gives (or TRIBUNAL_PORT, or --gateway-port) and every enabled detector
of config/detectors.yaml at 127.0.0.1:<port>, with the same job names, labels and alert rules as in
docker compose and Kubernetes. Its data stays in var/metrics/prometheus/ between runs.

Grafana starts only where a ``grafana`` or ``grafana-server`` binary is installed, with the data
source and the dashboard of deploy/grafana/ provisioned; otherwise this says so and runs Prometheus
alone. Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.registry import load_registry
from gateway.settings import SettingsError, load_settings
from scripts import grafana_dashboard, monitoring
from scripts.local_stack import Service, port_is_free, stop_pid
from tribunal_home import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "var" / "metrics"
GRAFANA_HOMES = (Path("/usr/share/grafana"),)


@dataclass
class Rendered:
    prometheus_config: Path
    rules: Path
    grafana_provisioning: Path


def render(
    directory: Path,
    registry_path: Path,
    gateway_port: int,
    prometheus_port: int,
    scrape_interval: str = monitoring.SCRAPE_INTERVAL,
) -> Rendered:
    """Write the local Prometheus configuration, its rules and Grafana's provisioning under ``directory``."""
    registry = load_registry(registry_path)
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / monitoring.RULES_FILE
    rules.write_text(monitoring.render_rules(registry))
    config = directory / "prometheus.yml"
    config.write_text(
        monitoring.render_scrape_config(
            monitoring.local_scrape_config(registry, gateway_port, str(rules), scrape_interval),
            f"make metrics-up: the processes of `make start` on 127.0.0.1 ({registry_path}).",
        )
    )
    provisioning = directory / "grafana" / "provisioning"
    for sub in ("datasources", "dashboards", "plugins", "alerting"):
        (provisioning / sub).mkdir(parents=True, exist_ok=True)
    (provisioning / "datasources" / "tribunal.yml").write_text(
        monitoring.dump_yaml(monitoring.grafana_datasource(f"http://127.0.0.1:{prometheus_port}"))
    )
    (provisioning / "dashboards" / "tribunal.yml").write_text(
        monitoring.dump_yaml(
            monitoring.grafana_dashboard_provider(str(REPO_ROOT / monitoring.GRAFANA_DIR / "dashboards"))
        )
    )
    return Rendered(config, rules, provisioning)


def grafana_command() -> list[str] | None:
    """How to start the installed Grafana (``grafana server`` since v10, else ``grafana-server``)."""
    for binary, subcommand in (("grafana", ["server"]), ("grafana-server", [])):
        path = shutil.which(binary)
        if path:
            home = next((h for h in GRAFANA_HOMES if (h / "conf" / "defaults.ini").is_file()), None)
            # A tarball keeps bin/ beside conf/.
            home = home or Path(path).resolve().parent.parent
            return [path, *subcommand, "--homepath", str(home)]
    return None


def _wait_ready(service: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = service.exited()
            if code is not None:
                raise RuntimeError(
                    f"{service.name} exited with code {code}; last log lines ({service.log_path}):\n"
                    + service.log_tail()
                )
            try:
                if client.get(service.url + service.ready_path).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} not ready after {timeout_s:.0f} s; see {service.log_path}")


def _gateway_port() -> int:
    try:
        return load_settings().port
    except SettingsError:
        return 8000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registry", type=Path, default=REPO_ROOT / "config" / "detectors.yaml")
    parser.add_argument("--gateway-port", type=int, default=None, help="default: config/gateway.yaml's port")
    parser.add_argument("--prometheus-port", type=int, default=monitoring.PROMETHEUS_PORT)
    parser.add_argument("--grafana-port", type=int, default=monitoring.GRAFANA_PORT)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="configuration, data and logs")
    parser.add_argument("--scrape-interval", default=monitoring.SCRAPE_INTERVAL)
    parser.add_argument("--no-grafana", action="store_true", help="run Prometheus only")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for readiness")
    args = parser.parse_args(argv)

    prometheus = shutil.which("prometheus")
    if not prometheus:
        print(
            "error: no prometheus binary; `make prometheus` installs Debian's package as root "
            "(or: sudo apt-get install prometheus)",
            file=sys.stderr,
        )
        return 2
    gateway_port = args.gateway_port or _gateway_port()
    grafana = None if args.no_grafana else grafana_command()
    wanted = [("Prometheus", args.prometheus_port, "--prometheus-port")]
    if grafana:
        wanted.append(("Grafana", args.grafana_port, "--grafana-port"))
    for name, port, flag in wanted:
        if not port_is_free(port):
            print(
                f"error: port {port} for {name} is taken (an earlier `make metrics-up`? Debian's "
                f"{name.lower()} service, which installing the package starts?). Stop it, or pass "
                f"{flag} (make metrics-up {flag.removeprefix('--').replace('-', '_').upper()}=<port>).",
                file=sys.stderr,
            )
            return 1

    rendered = render(args.dir, args.registry, gateway_port, args.prometheus_port, args.scrape_interval)
    log_dir = args.dir / "log"
    services = [
        Service(
            name="prometheus",
            command=[
                prometheus,
                f"--config.file={rendered.prometheus_config}",
                f"--storage.tsdb.path={args.dir / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{args.prometheus_port}",
            ],
            url=f"http://127.0.0.1:{args.prometheus_port}",
            port=args.prometheus_port,
            env=dict(os.environ),
            log_path=log_dir / "prometheus.log",
            ready_path="/-/ready",
        )
    ]
    if grafana:
        grafana_env = {
            **os.environ,
            "GF_PATHS_DATA": str(args.dir / "grafana" / "data"),
            "GF_PATHS_LOGS": str(log_dir),
            "GF_PATHS_PLUGINS": str(args.dir / "grafana" / "plugins"),
            "GF_PATHS_PROVISIONING": str(rendered.grafana_provisioning),
            "GF_SERVER_HTTP_ADDR": "127.0.0.1",
            "GF_SERVER_HTTP_PORT": str(args.grafana_port),
            "GF_AUTH_ANONYMOUS_ENABLED": "true",
            "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": str(
                REPO_ROOT / monitoring.GRAFANA_DIR / "dashboards" / grafana_dashboard.FILE_NAME
            ),
        }
        if os.environ.get("TRIBUNAL_GRAFANA_ADMIN_PASSWORD"):
            grafana_env["GF_SECURITY_ADMIN_PASSWORD"] = os.environ["TRIBUNAL_GRAFANA_ADMIN_PASSWORD"]
        services.append(
            Service(
                name="grafana",
                command=grafana,
                url=f"http://127.0.0.1:{args.grafana_port}",
                port=args.grafana_port,
                env=grafana_env,
                log_path=log_dir / "grafana.log",
                ready_path="/api/health",
            )
        )

    stopping = False

    def _request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    status = 0
    try:
        for service in services:
            service.start()
            _wait_ready(service, args.timeout)
        _announce(services, rendered, gateway_port, grafana is not None, args.no_grafana)
        while not stopping:
            for service in services:
                code = service.exited()
                if code is not None:
                    print(
                        f"error: {service.name} exited with code {code}; see {service.log_path}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    finally:
        print("\nstopping…", flush=True)
        for service in reversed(services):
            if service.pid is not None and service.exited() is None:
                stop_pid(service.pid)
        print("stopped.", flush=True)
    return status


def _ui_page(base: str, page: str) -> str:
    """The URL of a page of Prometheus's web UI: Debian's build serves only the classic UI, under /classic/."""
    for url in (f"{base}/{page}", f"{base}/classic/{page}"):
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
    return f"{base}/{page}"


def _announce(
    services: list[Service], rendered: Rendered, gateway_port: int, grafana: bool, skipped: bool
) -> None:
    prometheus = services[0].url
    targets, alerts = _ui_page(prometheus, "targets"), _ui_page(prometheus, "alerts")
    print(f"Prometheus  {prometheus}  (targets: {targets}, alerts: {alerts})")
    print(f"            configuration {rendered.prometheus_config}, rules {rendered.rules}")
    if grafana:
        print(f"Grafana     {services[1].url}  (dashboard Tribunal; anonymous viewers, admin signs in)")
    elif not skipped:
        print(
            "Grafana     not started: no `grafana` or `grafana-server` binary is installed. Install Grafana\n"
            "            (https://grafana.com/docs/grafana/latest/setup-grafana/installation/) and rerun, or\n"
            f"            import {monitoring.GRAFANA_DIR / 'dashboards' / grafana_dashboard.FILE_NAME} into a Grafana you have."
        )
    try:
        httpx.get(f"http://127.0.0.1:{gateway_port}/health", timeout=2.0).raise_for_status()
    except httpx.HTTPError:
        print(
            f"note: no gateway answers on 127.0.0.1:{gateway_port} yet; run `make start` in another terminal "
            "(its targets show as down until then)."
        )
    print("Ctrl-C stops it.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
