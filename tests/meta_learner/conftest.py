"""Fake detector services for the meta-learner: versions, weights and classes in /info, scores from a table."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest


@dataclass
class FakeService:
    version: str = "1.0.0"
    weights_sha256: str = "a" * 64
    ready: bool = True
    task: str = "binary"
    classes: list[str] = field(default_factory=list)
    mode: str = "ok"  # ok | abstain | error


class FakeDetectorNetwork:
    """Detector services at http://<name>; each scores a file by the label the test registered for it."""

    def __init__(self) -> None:
        self.services: dict[str, FakeService] = {}
        self.labels: dict[str, int] = {}  # file sha256 -> 1 fake / 0 real
        self.calls: Counter[str] = Counter()
        self.files: dict[str, bytes] = {}  # sha256 -> bytes, to recognise a file in a multipart body

    def add_files(self, items) -> None:
        """Register benchmark items: their bytes and labels."""
        for item in items:
            data = item.path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            self.files[sha] = data
            self.labels[sha] = int(item.is_fake)

    def add(self, name: str, **kw) -> FakeService:
        self.services[name] = FakeService(**kw)
        return self.services[name]

    def score(self, name: str, sha: str) -> float:
        # Informative but imperfect: most files get the side of their label, a few the other side.
        noise = int(hashlib.sha256(f"{name}{sha}".encode()).hexdigest()[:4], 16) / 0xFFFF
        label = self.labels.get(sha, 0)
        return 0.55 + 0.4 * noise if (label == 1) == (noise > 0.15) else 0.45 - 0.4 * noise

    async def handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host
        service = self.services.get(name)
        if service is None:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/ready":
            return httpx.Response(
                200 if service.ready else 503, json={"ready": service.ready, "reason": "weights missing"}
            )
        if request.url.path == "/info":
            weights = [{"file": "w.safetensors", "sha256": service.weights_sha256, "origin": "test"}]
            return httpx.Response(
                200,
                json={
                    "name": name,
                    "version": service.version,
                    "task": service.task,
                    "classes": service.classes,
                    "weights": weights,
                },
            )
        self.calls[name] += 1
        body = request.content
        # The multipart body holds the file: find which registered file it is.
        sha = next((s for s, data in self.files.items() if data in body), "")
        if service.mode == "error":
            return httpx.Response(500, json={"error": "boom", "detail": "broken"})
        answer = {"detector": name, "version": service.version, "elapsed_ms": 1.0}
        if service.mode == "abstain":
            return httpx.Response(
                200, json={**answer, "prob_fake": None, "abstained": True, "reason": "no_evidence"}
            )
        prob = self.score(name, sha)
        if service.task == "attribution":
            answer["class_probs"] = {
                "real": 1 - prob,
                **{c: prob / (len(service.classes) - 1) for c in service.classes if c != "real"},
            }
        return httpx.Response(200, json={**answer, "prob_fake": prob})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@pytest.fixture
def network() -> FakeDetectorNetwork:
    return FakeDetectorNetwork()
