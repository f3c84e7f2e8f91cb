"""Whatever a client puts in the URL of /history, /stats and the id routes, the answer is a 2xx or a 4xx.

The regression cases are the URLs that once answered 500 (a page past SQLite's integers, dates that
leave years 1-9999 once converted to UTC); the properties send arbitrary values for every filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from support.accounts import PASSWORD

LIST_PATHS = ("/history", "/stats")
FILTERS = ("page", "page_size", "since", "until", "verdict", "media_type", "username")


@pytest.fixture
def client(fakes, gw, tmp_path) -> Iterator[TestClient]:
    """A gateway with auth on, an admin ``root`` (signed in) and two analyses in the history."""
    fakes.set("a", fakes.ok(0.8, {"real": 0.2, "sdxl": 0.8}))
    app = create_app(
        gw.settings(auth_required=True, data_dir=tmp_path / "data"), gw.registry("a"), fakes.transport()
    )
    with TestClient(app, raise_server_exceptions=False) as opened:
        assert opened.post("/auth/register", json={"username": "root", "password": PASSWORD}).is_success
        token = opened.post("/auth/token", data={"username": "root", "password": PASSWORD}).json()
        opened.headers["Authorization"] = f"Bearer {token['access_token']}"
        for _ in range(2):
            assert opened.post("/detect", files={"file": ("a.png", gw.image(), "image/png")}).is_success
        yield opened


def assert_client_error_or_success(response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"], str) and isinstance(body["detail"], str), body


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/history", {"page": "100000000000000000000"}, "page"),
        ("/history", {"page": str(2**63 - 1)}, "page"),
        ("/history", {"since": "9999-12-31T23:59:59-05:00"}, "since"),
        ("/history", {"until": "0001-01-01T00:00:00+05:00"}, "until"),
        ("/stats", {"since": "9999-12-31T23:59:59-05:00"}, "since"),
        ("/stats", {"until": "0001-01-01T00:00:00+05:00"}, "until"),
    ],
)
def test_the_urls_that_answered_500_are_a_422_naming_the_parameter(client, path, params, field):
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "malformed_request"
    assert [problem["field"] for problem in body["problems"]] == [field]
    assert field in body["detail"]


def test_a_row_id_past_the_database_integers_is_a_422(client):
    response = client.delete("/api-keys/100000000000000000000")
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["field"] == "key_id"


def test_the_edges_of_the_range_still_work(client):
    for params in (
        {"since": "0001-01-01T00:00:00", "until": "9999-12-31T23:59:59Z"},
        {"since": "9999-12-31T23:59:59+00:00"},
        {"page": "100000", "page_size": "100"},
    ):
        response = client.get("/history", params=params)
        assert response.status_code == 200, (params, response.text)
    assert client.get("/stats", params={"until": "9999-12-31T23:59:59"}).json()["total"] == 2


# Property: arbitrary values for every filter --------------------------------------------------------

# Values are drawn with a bias to the edges, where the 500s were: the ends of datetime's range shifted
# by an offset, and integers around the 32- and 64-bit limits.
offsets = st.one_of(st.sampled_from([-1439, -300, 300, 1439]), st.integers(-1439, 1439)).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.one_of(
    st.sampled_from([datetime(9999, 12, 31, 23, 59, 59), datetime(1, 1, 1)]),
    st.datetimes(min_value=datetime(9999, 12, 31)),
    st.datetimes(max_value=datetime(1, 1, 1, 23, 59, 59)),
    st.datetimes(),
)
times = st.one_of(
    st.builds(lambda instant, zone: instant.replace(tzinfo=zone).isoformat(), instants, offsets),
    instants.map(datetime.isoformat),
    instants.map(lambda instant: instant.isoformat() + "Z"),
    st.dates().map(str),
)
edges = st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**20, -(2**63)])
numbers = st.one_of(edges, st.integers(), st.floats()).map(str)
any_value = st.one_of(times, numbers, st.text(max_size=40))
of_its_kind = {
    "page": numbers,
    "page_size": numbers,
    "since": times,
    "until": times,
    "verdict": st.sampled_from(["fake", "real", "uncertain"]),
    "media_type": st.sampled_from(["image", "video"]),
    "username": st.sampled_from(["root", "ROOT", "nobody", "a.b-c_d"]),
}
filter_params = st.fixed_dictionaries(
    {}, optional={name: st.one_of(kind, any_value) for name, kind in of_its_kind.items()}
)
EXAMPLES = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# One invalid value answers 422 before any query runs and could hide another's 500, so paging and the
# time range also get properties of their own, with every other filter left out.
@EXAMPLES
@given(page=numbers, page_size=st.none() | st.integers(1, 100).map(str) | numbers)
def test_any_page_answers_2xx_or_4xx(client, page, page_size):
    params = {"page": page} if page_size is None else {"page": page, "page_size": page_size}
    assert_client_error_or_success(client.get("/history", params=params))


@EXAMPLES
@given(path=st.sampled_from(LIST_PATHS), since=st.none() | times, until=st.none() | times)
def test_any_time_range_answers_2xx_or_4xx(client, path, since, until):
    params = {name: value for name, value in (("since", since), ("until", until)) if value is not None}
    assert_client_error_or_success(client.get(path, params=params))


@EXAMPLES
@given(path=st.sampled_from(LIST_PATHS), params=filter_params)
def test_any_filter_values_answer_2xx_or_4xx(client, path, params):
    assert_client_error_or_success(client.get(path, params=params))


@EXAMPLES
@given(
    path=st.sampled_from(["/history/{}", "/history/{}/file", "/api-keys/{}"]),
    method=st.sampled_from(["GET", "DELETE"]),
    value=st.one_of(any_value.filter(bool), st.integers().map(str)),
)
def test_any_id_in_the_path_answers_2xx_or_4xx(client, path, method, value):
    assert_client_error_or_success(client.request(method, path.format(quote(value, safe=""))))
