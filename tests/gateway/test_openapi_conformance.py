"""Schemathesis against the real gateway: every answer matches the OpenAPI description, none is a 5xx.

The gateway runs as ``python -m gateway`` with auth on and one real detector (latency_probe), on free
localhost ports. Requests carry an admin's bearer token; ``/detect`` uploads are real PNG and JPEG
images as often as Schemathesis' own bytes, so detection itself is exercised, not only its refusals.
A small budget per operation keeps the run to well under a minute here.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.accounts import PASSWORD
from support.stack import detector_entry, running_stack

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 25
CREDENTIAL_HEADERS = {"authorization", "x-api-key"}


def real_image(fmt: str, size: tuple[int, int], seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


IMAGES = [
    real_image("PNG", (64, 48), 0),
    real_image("JPEG", (96, 96), 1),
    real_image("PNG", (17, 300), 2),
    real_image("JPEG", (320, 200), 3),
]


UPLOADS = {  # operation path -> (body field, how the image goes in it)
    "/detect": ("file", lambda image: image),
    "/predict": ("data", lambda image: base64.b64encode(image).decode()),
}


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    env = {
        "TRIBUNAL_AUTH_REQUIRED": "true",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
        # Let the run reach detection and the sign-in checks rather than the limiters (429 is declared,
        # and the limiters have tests of their own).
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
        "TRIBUNAL_LOGIN_ATTEMPTS_PER_MINUTE": "600",
    }
    with running_stack(tmp, [detector_entry("latency_probe")], env=env) as stack:
        yield stack.service("gateway").url


@pytest.fixture(scope="module")
def admin_headers(gateway_url) -> dict[str, str]:
    with httpx.Client(base_url=gateway_url, timeout=10) as client:
        assert (
            client.post("/auth/register", json={"username": "root", "password": PASSWORD}).status_code == 201
        )
        token = client.post("/auth/token", data={"username": "root", "password": PASSWORD})
        assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(gateway_url):
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")

    @schema.hook
    def flatmap_body(context, body):
        # About half of the uploads carry a real image (as the file, or base64 for /predict), whatever
        # else Schemathesis put in the body; the rest keep what it generated.
        if not isinstance(body, dict) or context.operation.path not in UPLOADS:
            return st.just(body)
        field, encode = UPLOADS[context.operation.path]
        with_image = st.sampled_from(IMAGES).map(lambda image: {**body, field: encode(image)})
        return st.one_of(st.just(body), with_image)

    return schema


def exercise(operation, mode: GenerationMode, headers: dict[str, str], seen: Counter) -> str | None:
    """Run one operation's budget in one generation mode; the failure report, or None when all held.

    ``seen`` counts the answers by (operation, status).
    """

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is a reproducible one
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        # The credentials are the test's own (valid) ones, not values generated for the security schemes.
        for name in [name for name in case.headers or {} if name.lower() in CREDENTIAL_HEADERS]:
            del case.headers[name]
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        seen[operation.label, response.status_code] += 1

    try:
        run()
    except (AssertionError, BaseExceptionGroup) as exc:  # Schemathesis' failures: the message is the report
        return f"{operation.label} ({mode.value}): {exc}"
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            return f"{operation.label}: Schemathesis could not make a single valid request"
        # Some operations take nothing that can be made invalid in a way Schemathesis can express.
    return None


def modes_for(operation) -> list[GenerationMode]:
    """Positive cases always; negative ones where the operation takes something that can be wrong."""
    takes_input = any((operation.path_parameters, operation.query, operation.body))
    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if takes_input else [GenerationMode.POSITIVE]


def test_every_answer_matches_the_api_description(api_schema, admin_headers):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /detect",
        "GET /history",
        "GET /stats",
        "POST /auth/token",
    }
    seen: Counter = Counter()
    failures = [
        report
        for operation in operations
        for mode in modes_for(operation)
        if (report := exercise(operation, mode, admin_headers, seen)) is not None
    ]
    assert not failures, "\n\n".join(failures)
    # The run reached the work itself, not only the refusals: real images were analysed and listed.
    assert seen["POST /detect", 200] > 0 and seen["GET /history", 200] > 0, sorted(seen.items())
