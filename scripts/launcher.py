"""``make start`` / ``make stop``: the whole system on one machine, each detector its own process.

python -m scripts.launcher start     # foreground; Ctrl-C stops everything
python -m scripts.launcher stop      # stop a stack started from another terminal
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from scripts.local_stack import REPO_ROOT, LocalStack, StackError, stop_from_run_file

RUN_FILE = REPO_ROOT / "var" / "run" / "stack.json"


def _start(args: argparse.Namespace) -> int:
    if RUN_FILE.exists():
        stopped = stop_from_run_file(RUN_FILE)
        if stopped:
            print(f"stopped a stack left over from an earlier run: {', '.join(stopped)}")
    stack = LocalStack(registry_path=Path(args.registry), gateway_port=args.port)
    names = [d.name for d in stack.enabled_detectors()]
    print(f"starting the gateway and {len(names)} detector(s): {', '.join(names) or '(none enabled)'}")
    print(f"logs: {stack.log_dir}/<name>.log")
    try:
        stack.start(timeout_s=args.timeout, on_progress=lambda msg: print(f"  - {msg}", flush=True))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stack.write_run_file(RUN_FILE)
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
    print("\nCtrl-C (or `make stop` elsewhere) stops everything.", flush=True)

    stopping = False

    def _request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    try:
        while not stopping:
            for service in stack.services:
                code = service.exited()
                if code is not None and not stopping and RUN_FILE.exists():
                    print(
                        f"warning: {service.name} exited with code {code}; see {service.log_path}", flush=True
                    )
                    service.process = None
            if not RUN_FILE.exists():  # `make stop` removed it
                break
            time.sleep(0.5)
    finally:
        print("\nstopping…", flush=True)
        stack.stop()
        RUN_FILE.unlink(missing_ok=True)
        print("stopped.")
    return 0


def _stop(_: argparse.Namespace) -> int:
    stopped = stop_from_run_file(RUN_FILE)
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
    start.set_defaults(func=_start)
    stop = sub.add_parser("stop", help="stop a stack started elsewhere")
    stop.set_defaults(func=_stop)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
