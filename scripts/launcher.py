"""``make start`` / ``make stop``: the whole system on one machine, each detector its own process.

python -m scripts.launcher start     # foreground; Ctrl-C stops everything
python -m scripts.launcher stop      # stop a stack started from another terminal

While it runs, the launcher supervises the stack (scripts/launcher_supervisor.py): a detector or the
gateway that exits or stops answering /health is restarted with back-off, and given up on after
TRIBUNAL_SUPERVISOR_MAX_RAPID_FAILURES failures in a row within TRIBUNAL_SUPERVISOR_RAPID_WINDOW_S.
Restarts are logged (JSON lines in <log dir>/launcher.log) and written to <run dir>/supervision.json,
which the gateway reads (TRIBUNAL_SUPERVISION_FILE) to show restart counts in GET /models. The exit
status is 1 when anything was given up on.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from gateway.registry import SUPERVISION_FILE_ENV
from scripts.launcher_supervisor import SupervisionPolicy, Supervisor
from scripts.local_stack import LocalStack, StackError, stop_from_run_file
from tribunal_home import REPO_ROOT
from tribunal_sdk.logs import JsonFormatter

RUN_DIR = REPO_ROOT / "var" / "run"
LOG_DIR = REPO_ROOT / "var" / "log"
# How often the foreground loop looks at the processes (exits are noticed within this).
_POLL_S = 0.5


class _ConsoleFormatter(logging.Formatter):
    """Plain text for a person: 'warning: ...' and 'error: ...' prefixes, like the launcher's own lines."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.WARNING: "warning: ", logging.ERROR: "error: "}.get(record.levelno, "")
        return prefix + record.getMessage()


def _configure_logging(log_dir: Path) -> None:
    """Supervision events as JSON lines in <log_dir>/launcher.log and as plain lines on stdout."""
    log_dir.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_dir / "launcher.log")
    to_file.setFormatter(JsonFormatter())
    to_console = logging.StreamHandler(sys.stdout)
    to_console.setFormatter(_ConsoleFormatter())
    logger = logging.getLogger("launcher")
    logger.handlers[:] = [to_file, to_console]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _start(args: argparse.Namespace) -> int:
    run_file = Path(args.run_dir) / "stack.json"
    report_file = Path(args.run_dir) / "supervision.json"
    try:
        policy = SupervisionPolicy()
    except ValidationError as exc:
        print(f"error: invalid TRIBUNAL_SUPERVISOR_* setting:\n{exc}", file=sys.stderr)
        return 2
    if run_file.exists():
        stopped = stop_from_run_file(run_file)
        if stopped:
            print(f"stopped a stack left over from an earlier run: {', '.join(stopped)}")
    stack = LocalStack(
        registry_path=Path(args.registry),
        gateway_port=args.port,
        log_dir=Path(args.log_dir),
        extra_env={SUPERVISION_FILE_ENV: str(report_file)},
    )
    names = [d.name for d in stack.enabled_detectors()]
    print(f"starting the gateway and {len(names)} detector(s): {', '.join(names) or '(none enabled)'}")
    print(f"logs: {stack.log_dir}/<name>.log")
    try:
        stack.start(timeout_s=args.timeout, on_progress=lambda msg: print(f"  - {msg}", flush=True))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stack.write_run_file(run_file)
    gateway = stack.service("gateway").url
    print(f"\nTribunal is up.\n  dashboard  {gateway}/  (sign up there; the first account is the admin)")
    print(f"  gateway    {gateway}\n  API docs   {gateway}/docs")
    print(f'  detect     curl -H "X-API-Key: <key from the dashboard>" -F file=@photo.jpg {gateway}/detect')
    for service in stack.services[:-1]:
        print(f"  detector   {service.name:<22} {service.url}")
    for name, reason in stack.not_ready.items():
        print(
            f"\nwarning: {name} cannot serve: {reason}\n  the gateway answers without it (degraded).",
            flush=True,
        )
    print(
        f"\nA process that dies or hangs is restarted (up to {policy.max_rapid_failures} failures within "
        f"{policy.rapid_window_s:g} s); see {stack.log_dir / 'launcher.log'}.",
    )
    print("Ctrl-C (or `make stop` elsewhere) stops everything.", flush=True)
    _configure_logging(stack.log_dir)

    stopping = False

    def _request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    def _should_stop() -> bool:
        return stopping or not run_file.exists()  # `make stop` removes the run file first

    def _record_new_pid(_: object) -> None:
        if not _should_stop():  # keep `make stop` able to find a restarted process
            stack.write_run_file(run_file)

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    supervisor = Supervisor(
        stack.services, policy, report_file, should_stop=_should_stop, on_restart=_record_new_pid
    )
    try:
        while not _should_stop():
            supervisor.tick()
            if "gateway" in supervisor.gave_up:
                print("error: the gateway cannot be kept running; stopping the stack.", flush=True)
                break
            time.sleep(_POLL_S)
    finally:
        print("\nstopping…", flush=True)
        supervisor.close()
        stack.stop()
        run_file.unlink(missing_ok=True)
        report_file.unlink(missing_ok=True)
        print("stopped.")
    if supervisor.gave_up:
        print(f"error: gave up on {', '.join(supervisor.gave_up)} (see above)", file=sys.stderr)
        return 1
    return 0


def _stop(args: argparse.Namespace) -> int:
    stopped = stop_from_run_file(Path(args.run_dir) / "stack.json")
    print(f"stopped: {', '.join(stopped)}" if stopped else "no running stack found")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start the stack in the foreground")
    start.add_argument("--registry", default=str(REPO_ROOT / "config" / "detectors.yaml"))
    start.add_argument("--port", type=int, default=8000, help="gateway port")
    start.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for readiness")
    start.add_argument("--run-dir", default=str(RUN_DIR), help="where stack.json and supervision.json go")
    start.add_argument("--log-dir", default=str(LOG_DIR), help="where each process's log goes")
    start.set_defaults(func=_start)
    stop = sub.add_parser("stop", help="stop a stack started elsewhere")
    stop.add_argument("--run-dir", default=str(RUN_DIR))
    stop.set_defaults(func=_stop)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
