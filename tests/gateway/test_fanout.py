"""The fan-out client against faked detectors: every fault becomes a status, calls run concurrently."""

from __future__ import annotations

import asyncio
import time

import pytest

from tribunal_sdk.client import DetectorOutcome, DetectorStatus, FanoutClient


@pytest.fixture
async def client_for(fakes):
    clients: list[FanoutClient] = []

    def build(**kwargs) -> FanoutClient:
        client = FanoutClient(transport=fakes.transport(), **kwargs)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def test_a_good_answer_is_ok_and_the_request_carries_file_explain_and_request_id(
    fakes, client_for, gw, png
):
    fakes.set("a", fakes.ok(0.8, {"real": 0.2, "sdxl": 0.8}))
    client = client_for()
    [outcome] = await client.predict_all(png, "image", [gw.entry("a")], explain=True, request_id="req-1")
    assert outcome.status == DetectorStatus.OK
    assert (outcome.prob_fake, outcome.class_probs, outcome.version) == (
        0.8,
        {"real": 0.2, "sdxl": 0.8},
        "1.2.3",
    )
    assert outcome.heatmap_png == "aGVhdG1hcA=="
    assert outcome.elapsed_ms is not None and outcome.elapsed_ms >= 0
    sent = fakes.last_request["a"]
    assert sent.headers["X-Request-ID"] == "req-1"
    assert sent.url.params["explain"] == "true"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert png in sent.content  # the original bytes, untouched
    assert b'name="file"' in sent.content


async def test_an_abstention_is_reported_as_such(fakes, client_for, gw, png):
    fakes.set("a", fakes.abstain("no_evidence"))
    [outcome] = await client_for().predict_all(png, "image", [gw.entry("a")])
    assert outcome.status == DetectorStatus.ABSTAINED
    assert outcome.abstained and outcome.prob_fake is None and outcome.reason == "no_evidence"
    assert outcome.answered and not outcome.failed


async def test_a_detector_that_never_answers_times_out_at_its_own_timeout(fakes, client_for, gw, png):
    fakes.set("a", fakes.hang(30))
    started = time.perf_counter()
    [outcome] = await client_for().predict_all(png, "image", [gw.entry("a", timeout_s=0.2)])
    elapsed = time.perf_counter() - started
    assert outcome.status == DetectorStatus.TIMEOUT
    assert "0.2 s" in outcome.error
    assert 0.15 < elapsed < 0.6


async def test_a_real_socket_that_accepts_but_never_answers_times_out(client_for, gw, png):
    # Like a SIGSTOPped detector: the kernel accepts the connection, nothing ever replies.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = FanoutClient()  # the real network
    try:
        entry = gw.entry("stopped", url=f"http://127.0.0.1:{port}", timeout_s=0.3)
        started = time.perf_counter()
        [outcome] = await client.predict_all(png, "image", [entry])
        assert outcome.status == DetectorStatus.TIMEOUT
        assert time.perf_counter() - started < 1.0
    finally:
        await client.aclose()
        server.close()


@pytest.mark.parametrize(
    ("behaviour", "status", "error_part"),
    [
        ("not_ready", DetectorStatus.UNAVAILABLE, "not ready (HTTP 503)"),
        ("server_error", DetectorStatus.ERROR, "HTTP 500"),
        ("garbage", DetectorStatus.ERROR, "invalid answer"),
        ("html", DetectorStatus.ERROR, "invalid answer"),
        ("wrong_schema", DetectorStatus.ERROR, "invalid answer"),
        ("abstain_with_score", DetectorStatus.ERROR, "abstained but also gave prob_fake"),
        ("prob_out_of_range", DetectorStatus.ERROR, "prob_fake must be in [0, 1]"),
        ("refused", DetectorStatus.UNAVAILABLE, "cannot connect"),
    ],
)
async def test_each_fault_becomes_a_status(fakes, client_for, gw, png, behaviour, status, error_part):
    behaviours = {
        "not_ready": fakes.status(503, {"error": "not_ready", "detail": "weights missing"}),
        "server_error": fakes.status(500, {"error": "inference_failed", "detail": "boom"}),
        "garbage": fakes.raw(200, b"\x00not json{"),
        "html": fakes.raw(200, b"<html>proxy error</html>"),
        "wrong_schema": fakes.status(200, {"score": 0.4}),
        "abstain_with_score": fakes.status(
            200, {"detector": "a", "version": "1", "prob_fake": 0.4, "abstained": True, "elapsed_ms": 1}
        ),
        "prob_out_of_range": fakes.status(
            200, {"detector": "a", "version": "1", "prob_fake": 1.5, "elapsed_ms": 1}
        ),
        "refused": fakes.refuse(),
    }
    fakes.set("a", behaviours[behaviour])
    [outcome] = await client_for().predict_all(png, "image", [gw.entry("a")])
    assert outcome.status == status
    assert error_part in outcome.error
    assert outcome.failed and outcome.prob_fake is None


async def test_a_503_keeps_the_detectors_reason(fakes, client_for, gw, png):
    fakes.set("a", fakes.status(503, {"error": "not_ready", "detail": "weights missing: model.safetensors"}))
    [outcome] = await client_for().predict_all(png, "image", [gw.entry("a")])
    assert "weights missing: model.safetensors" in outcome.error


async def test_four_slow_detectors_run_concurrently(fakes, client_for, gw, png):
    names = ["a", "b", "c", "d"]
    for name in names:
        fakes.set(name, fakes.ok(0.5, delay_s=0.2))
    entries = [gw.entry(name, i) for i, name in enumerate(names)]
    started = time.perf_counter()
    outcomes = await client_for().predict_all(png, "image", entries)
    elapsed = time.perf_counter() - started
    assert [o.status for o in outcomes] == [DetectorStatus.OK] * 4
    assert [o.name for o in outcomes] == names  # one outcome per entry, in order
    assert elapsed < 0.45, f"4 x 200 ms took {elapsed:.3f} s: calls are not concurrent"


async def test_a_hung_detector_does_not_delay_the_others(fakes, client_for, gw, png):
    fakes.set("slow", fakes.hang(30))
    fakes.set("fast", fakes.ok(0.3, delay_s=0.01))
    entries = [gw.entry("slow", 0, timeout_s=0.5), gw.entry("fast", 1)]
    slow, fast = await client_for().predict_all(png, "image", entries)
    assert slow.status == DetectorStatus.TIMEOUT
    assert fast.status == DetectorStatus.OK
    assert fast.elapsed_ms < 200


async def test_a_detector_for_another_media_type_is_skipped(fakes, client_for, gw, png):
    fakes.set("v", fakes.ok(0.5))
    [outcome] = await client_for().predict_all(png, "image", [gw.entry("v", media_types=["video"])])
    assert outcome.status == DetectorStatus.SKIPPED
    assert fakes.calls["v"] == 0


async def wait_for_breaker(client: FanoutClient, name: str, state: str, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.breaker_state(name) != state:
        assert time.monotonic() < deadline, f"breaker of {name} still {client.breaker_state(name)}"
        await asyncio.sleep(0.01)


async def test_the_breaker_skips_a_failing_detector_until_a_health_probe_finds_it_ready(
    fakes, client_for, gw, png
):
    client = client_for(breaker_failures=2, breaker_cooldown_s=0.2, health_probe_first_s=0.05)
    entry = gw.entry("a")
    fakes.set("a", fakes.refuse(), ready=False)
    for _ in range(2):
        [outcome] = await client.predict_all(png, "image", [entry])
        assert outcome.status == DetectorStatus.UNAVAILABLE
    assert client.breaker_state("a") == "open"

    [outcome] = await client.predict_all(png, "image", [entry])
    assert outcome.status == DetectorStatus.UNAVAILABLE
    assert "circuit breaker open" in outcome.error
    assert fakes.calls["a"] == 2  # the third call never reached the detector
    [again] = await client.predict_all(png, "image", [entry])
    assert again.error.count("circuit breaker") == 1  # the last real error is quoted, not the refusal
    assert client.state("a").last_error.startswith("unavailable: cannot connect")

    await asyncio.sleep(0.3)  # probes while it is not ready leave the breaker open
    assert fakes.probes["a"] >= 2 and client.breaker_state("a") == "open"
    assert fakes.calls["a"] == 2  # ... and still no user request was sent as a trial

    fakes.set("a", fakes.ok(0.9))  # it recovers: the next probe closes the breaker, no request needed
    await wait_for_breaker(client, "a", "closed")
    assert fakes.calls["a"] == 2
    [outcome] = await client.predict_all(png, "image", [entry])
    assert outcome.status == DetectorStatus.OK


async def test_one_timeout_opens_the_breaker_so_the_next_call_does_not_wait(fakes, client_for, gw, png):
    client = client_for(breaker_failures=3, breaker_cooldown_s=0.2, health_probe_first_s=0.05)
    entry = gw.entry("a", timeout_s=0.3)
    fakes.set("a", fakes.hang(30), ready=False)
    [first] = await client.predict_all(png, "image", [entry])
    assert first.status == DetectorStatus.TIMEOUT
    assert client.breaker_state("a") == "open"

    started = time.perf_counter()
    [second] = await client.predict_all(png, "image", [entry])
    assert time.perf_counter() - started < 0.05
    assert second.status == DetectorStatus.UNAVAILABLE and "circuit breaker open" in second.error
    assert fakes.calls["a"] == 1

    fakes.set("a", fakes.ok(0.4))
    await wait_for_breaker(client, "a", "closed")


async def test_a_detector_that_is_not_back_is_probed_at_a_steady_pace(fakes, client_for, gw, png):
    client = client_for(breaker_failures=1, breaker_cooldown_s=5.0, health_probe_first_s=0.05)
    fakes.set("a", fakes.refuse(), ready=False)
    await client.predict_all(png, "image", [gw.entry("a")])
    await asyncio.sleep(0.5)
    # Failed probes do not slow the next one down: a restarted detector is seen within one pause.
    assert 4 <= fakes.probes["a"] <= 11
    assert client.state("a").health_probe_delay_s == pytest.approx(0.05)


async def test_a_ready_detector_whose_calls_keep_failing_is_probed_less_and_less(fakes, client_for, gw, png):
    client = client_for(breaker_failures=1, breaker_cooldown_s=0.3, health_probe_first_s=0.02)
    fakes.set("a", fakes.status(500), ready=True)  # says ready, fails every call
    delays = []
    for _ in range(5):
        await client.predict_all(png, "image", [gw.entry("a")])
        assert client.breaker_state("a") == "open"
        await wait_for_breaker(client, "a", "closed")
        delays.append(client.state("a").health_probe_delay_s)
    assert delays == pytest.approx([0.04, 0.08, 0.16, 0.3, 0.3])
    fakes.set("a", fakes.ok(0.5))
    await client.predict_all(png, "image", [gw.entry("a")])
    assert client.state("a").health_probe_delay_s == pytest.approx(0.02)  # an answer resets it


async def test_closing_the_client_stops_its_health_probes(fakes, gw, png):
    client = FanoutClient(transport=fakes.transport(), breaker_failures=1, health_probe_first_s=0.01)
    fakes.set("a", fakes.refuse(), ready=False)
    await client.predict_all(png, "image", [gw.entry("a")])
    task = client.state("a").health_probe_task
    assert task is not None and not task.done()
    await client.aclose()
    assert task.done()


async def test_a_refused_input_4xx_does_not_trip_the_breaker(fakes, client_for, gw, png):
    client = client_for(breaker_failures=1)
    fakes.set("a", fakes.status(415, {"error": "unsupported_media_type", "detail": "no GIFs here"}))
    [outcome] = await client.predict_all(png, "image", [gw.entry("a")])
    assert outcome.status == DetectorStatus.ERROR and outcome.http_status == 415
    assert "no GIFs here" in outcome.error
    assert client.breaker_state("a") == "closed"


async def test_live_state_and_observer_follow_every_call(fakes, client_for, gw, png):
    seen: list[DetectorOutcome] = []
    client = client_for(observer=seen.append)
    entry = gw.entry("a")
    fakes.set("a", fakes.ok(0.2))
    await client.predict_all(png, "image", [entry])
    fakes.set("a", fakes.status(500))
    await client.predict_all(png, "image", [entry])
    state = client.state("a").snapshot()
    assert [o.status for o in seen] == [DetectorStatus.OK, DetectorStatus.ERROR]
    assert state["calls"] == {"ok": 1, "error": 1}
    assert state["last_status"] == "error"
    assert state["last_error"].startswith("error: HTTP 500")
    assert state["last_error_at"] is not None and state["latency_ms"] is not None
    assert state["consecutive_failures"] == 1


async def test_probe_reads_ready_and_info_and_is_cached(fakes, client_for, gw):
    client = client_for()
    fakes.set("a", fakes.ok(0.5), ready=False)
    probe = await client.probe(gw.entry("a"))
    assert not probe.ready and probe.reason == "weights missing"
    assert probe.version == "1.2.3" and probe.backbone == "fake-net"
    await client.probe(gw.entry("a"), max_age_s=60)
    assert fakes.probes["a"] == 1
    await client.probe(gw.entry("a"), max_age_s=0)
    assert fakes.probes["a"] == 2


async def test_probe_of_an_unreachable_detector_says_why(client_for, gw):
    probe = await client_for().probe(gw.entry("ghost"))
    assert not probe.ready
    assert "cannot connect" in probe.reason
    assert probe.info is None


async def test_over_the_network_every_detector_gets_the_upload_as_one_multipart_file(gw, png):
    """The real client (aiohttp, no httpx objects around /predict): one body, encoded once, for all."""
    from starlette.requests import Request

    seen: list[tuple[bytes, bytes]] = []

    async def detector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        seen.append((head, await reader.readexactly(length)))
        answer = b'{"detector": "a", "version": "1", "prob_fake": 0.25, "elapsed_ms": 1.0}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(answer)
        )
        writer.write(answer)
        await writer.drain()
        writer.close()

    servers = [await asyncio.start_server(detector, "127.0.0.1", 0) for _ in range(2)]
    entries = [
        gw.entry(name, url=f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}")
        for name, s in zip("ab", servers, strict=True)
    ]
    client = FanoutClient()
    try:
        outcomes = await client.predict_all(png, "image", entries, explain=True, request_id="req-9")
    finally:
        await client.aclose()
        for server in servers:
            server.close()
    assert [o.status for o in outcomes] == [DetectorStatus.OK] * 2
    assert outcomes[0].prob_fake == 0.25
    assert seen[0][1] == seen[1][1]  # the same bytes went to both
    for head, body in seen:
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /predict?explain=true HTTP/1.1"
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
        assert headers["x-request-id"] == "req-9"

        async def receive(body=body):
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "headers": [(b"content-type", headers["content-type"].encode())],
        }
        form = await Request(scope, receive).form()
        assert await form["file"].read() == png
