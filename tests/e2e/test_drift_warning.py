"""A drifted stream raises the drift warning on the dashboard's Stats page (real gateway and detector).

latency_probe scores an image by its mean brightness. Its reference (an out-of-fold answers file in a
temporary detectors folder) says it scored dim images in training; bright ones then come in.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from playwright.sync_api import expect

from support.media import png_bytes
from support.oof import write_oof_file
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW = 20
# The reference: training scores between 0.1 and 0.45.
DIM_TRAINING_SCORES = np.random.default_rng(0).uniform(0.1, 0.45, 400)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def drift_stack(built_dashboard, tmp_path_factory) -> Iterator:
    tmp = tmp_path_factory.mktemp("drift")
    write_oof_file(tmp / "detectors", "latency_probe", DIM_TRAINING_SCORES)  # latency_probe saw dim images
    env = {
        "TRIBUNAL_DRIFT_DETECTORS_DIR": str(tmp / "detectors"),
        "TRIBUNAL_META_LEARNER_DIR": str(tmp / "artifacts"),  # no deployed meta-learner: the file above
        "TRIBUNAL_DRIFT_WINDOW": str(WINDOW),
        "TRIBUNAL_DRIFT_MIN_WINDOW": str(WINDOW),
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
    }
    with running_stack(tmp, [detector_entry("latency_probe")], env=env) as running:
        yield running


def test_bright_images_raise_the_drift_warning_naming_the_detector(browser, drift_stack, shoot):
    gateway = drift_stack.service("gateway").url
    context = browser.new_context(viewport=DESKTOP, base_url=gateway)
    page = context.new_page()
    page.set_default_timeout(15_000)

    # Auth is off: the Stats page is one click away. Before any traffic there is nothing to judge.
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Stats", exact=True).click()
    expect(page.get_by_role("heading", name="Drift")).to_be_visible()
    expect(page.get_by_test_id("drift-latency_probe")).to_contain_text("Not enough data")
    expect(page.get_by_test_id("drift-warning")).to_have_count(0)

    for i in range(WINDOW):  # bright images: latency_probe now scores about 0.9
        image = png_bytes((48, 40), (235, 235 - i, 230))
        answer = httpx.post(
            f"{gateway}/detect", files={"file": (f"b{i}.png", image, "image/png")}, timeout=30
        )
        assert answer.status_code == 200, answer.text
    drift = httpx.get(f"{gateway}/stats/drift", timeout=10).json()
    assert "latency_probe" in drift["drifted"]
    metrics = httpx.get(f"{gateway}/metrics", timeout=10).text
    assert 'tribunal_gateway_drift_alert{detector="latency_probe"} 1.0' in metrics

    page.get_by_role("button", name="Refresh").click()
    warning = page.get_by_test_id("drift-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Drift: latency probe")
    expect(warning).to_contain_text("PSI")
    expect(page.get_by_test_id("drift-latency_probe")).to_contain_text("Drifted")
    shoot(page, "stats-drift", "desktop")

    phone = browser.new_context(viewport=PHONE, base_url=gateway).new_page()
    phone.goto("/statistics")
    expect(phone.get_by_test_id("drift-warning")).to_contain_text("latency probe")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the Stats page is {overflow}px wider than a phone"
    shoot(phone, "stats-drift", "phone")
    phone.context.close()
    context.close()
