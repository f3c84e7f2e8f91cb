"""The dashboard at /: built files, the single-page-app fallback, and API routes keeping precedence."""

from __future__ import annotations

import pytest

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def dist(tmp_path):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "app-1234.js").write_text("console.log('tribunal')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside")
    return root


async def test_the_built_dashboard_is_served_with_a_spa_fallback(gateway_client, gw, dist):
    async with gateway_client(gw.registry("a"), frontend_dir=dist) as client:
        index = await client.get("/", headers=HTML)
        assert index.status_code == 200 and "id=root" in index.text
        assert "default-src 'self'" in index.headers["Content-Security-Policy"]
        assert index.headers["Cache-Control"] == "no-cache"
        asset = await client.get("/assets/app-1234.js")
        assert asset.status_code == 200 and "tribunal" in asset.text
        assert "immutable" in asset.headers["Cache-Control"]
        assert (await client.get("/favicon.svg")).status_code == 200
        # A dashboard page opened in the browser gets the app, which routes it.
        page = await client.get("/analyses/0123abcd", headers=HTML)
        assert page.status_code == 200 and "id=root" in page.text


async def test_api_routes_and_api_errors_keep_precedence(gateway_client, gw, dist):
    async with gateway_client(gw.registry("a"), frontend_dir=dist) as client:
        assert (await client.get("/health", headers=HTML)).json() == {"status": "ok"}
        missing = await client.get("/nope")  # an API client (Accept: */*) still gets the JSON 404
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert (await client.get("/detect", headers=HTML)).status_code == 405
        assert (await client.post("/somewhere")).status_code == 404
        assert (await client.get("/assets/missing.js", headers=HTML)).status_code == 404
        for sneaky in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
            response = await client.get(sneaky)
            assert response.status_code == 404 and "outside" not in response.text, sneaky


async def test_without_a_build_the_root_page_says_how_to_build_it(gateway_client, gw, tmp_path):
    async with gateway_client(gw.registry("a"), frontend_dir=tmp_path / "not-built") as client:
        root = await client.get("/")
        assert root.status_code == 200 and "make frontend" in root.text
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/analyses/abc", headers=HTML)).status_code == 404
