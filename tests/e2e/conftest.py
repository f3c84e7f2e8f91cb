"""Browser tests: the built dashboard in Debian's Chromium (driven by Playwright) against a real stack.

The stack is the real gateway with auth on plus two real detectors, started once for the module.
Screenshots go to test-artifacts/screenshots/ (git-ignored), one per page, desktop and phone width.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.registry import REPO_ROOT
from support.stack import detector_entry, running_stack

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


def _require(condition: bool, why: str) -> None:
    # On CI (`make test` installs Chromium and builds the dashboard first) a missing piece is a failure.
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="session")
def built_dashboard() -> Path:
    """frontend/dist, built (or rebuilt when stale) by the same make target `make start` uses."""
    _require(shutil.which("npm") is not None, "npm is needed to build the dashboard")
    built = subprocess.run(
        ["make", "-s", "frontend"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, f"make frontend failed:\n{built.stdout}\n{built.stderr}"
    dist = REPO_ROOT / "frontend" / "dist"
    assert (dist / "index.html").is_file()
    return dist


@pytest.fixture(scope="module")
def stack(built_dashboard, tmp_path_factory) -> Iterator:
    tmp = tmp_path_factory.mktemp("e2e")
    entries = [detector_entry("metadata_provenance"), detector_entry("latency_probe")]
    env = {
        "TRIBUNAL_AUTH_REQUIRED": "true",
        "TRIBUNAL_DATA_DIR": str(tmp / "data"),
        "TRIBUNAL_KEEP_UPLOADS": "true",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
    }
    with running_stack(tmp, entries, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator:
    _require(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (make browser installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def shoot():
    """``shoot(page, "history", "desktop")`` saves test-artifacts/screenshots/history-desktop.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, width: str) -> Path:
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
