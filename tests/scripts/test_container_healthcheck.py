"""The probe every image runs for its HEALTHCHECK, against a real HTTP server on this machine."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripts.local_stack import free_port
from support.repo_tree import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "container_healthcheck.py"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            status, body = 200, {"status": "ok"}
        else:
            status, body = 503, {"ready": False, "status": "failed", "reason": "weights file not found"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def probe(port: int, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIBUNAL_PORT": str(port)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), path], env=env, capture_output=True, text=True, timeout=30
    )


def test_healthy_service_exits_zero(port):
    assert probe(port, "/health").returncode == 0


def test_not_ready_exits_one_and_says_why(port):
    result = probe(port, "/ready")
    assert result.returncode == 1
    assert "answered 503" in result.stderr and "weights file not found" in result.stderr


def test_nothing_listening_exits_one():
    result = probe(free_port(), "/health")
    assert result.returncode == 1 and "unreachable" in result.stderr
