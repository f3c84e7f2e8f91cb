"""The Stats page in charts (real gateway, real detectors, Chromium): verdicts per day, the drift state,
the live score histogram against the training reference, per-detector latency and agreement.

Two copies of latency_probe (it scores an image by its mean brightness), one of them 40 ms slower, with a
training reference of dim images; a few dim, grey and bright images then come in. Each chart must show
its title, name its canvas for a screen reader, and have drawn bars in the colours of its data, at
desktop and at phone width.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from support.media import png_bytes
from support.oof import write_oof_file
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW = 10
# The reference: training scores between 0.1 and 0.45.
DIM_TRAINING_SCORES = np.random.default_rng(0).uniform(0.1, 0.45, 400)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The stylesheet's colours the charts draw with (frontend/src/styles.css, pages/StatsPage.tsx).
FAKE, REAL, UNCERTAIN, BRAND, REFERENCE = "#c2314a", "#1d7f4e", "#a86400", "#3b3f9e", "#b7bad8"

CHARTS = {
    "chart-verdicts-per-day": ("Verdicts per day", [FAKE, REAL, UNCERTAIN]),
    "chart-drift-state": ("Drift state: PSI per score stream", [FAKE]),
    "chart-score-histogram": ("Live score histogram against training: probe", [REFERENCE, FAKE]),
    "chart-latency": ("Detector latency", [BRAND, REFERENCE]),
    "chart-agreement": ("Agreement with the fused verdict", [BRAND]),
}

# Pixels of the canvas within a few levels of a colour (bars are drawn opaque; anti-aliased edges are not).
COLOUR_PIXELS = """([testId, hex]) => {
    const canvas = document.querySelector(`[data-testid="${testId}"] canvas`);
    if (!canvas || !canvas.width) return 0;
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 240 && Math.abs(data[i] - r) < 6 && Math.abs(data[i + 1] - g) < 6 && Math.abs(data[i + 2] - b) < 6) n++;
    }
    return n;
}"""


@pytest.fixture(scope="module")
def charts_stack(built_dashboard, tmp_path_factory) -> Iterator:
    tmp = tmp_path_factory.mktemp("charts")
    write_oof_file(tmp / "detectors", "latency_probe", DIM_TRAINING_SCORES)  # latency_probe saw dim images
    env = {
        "TRIBUNAL_DRIFT_DETECTORS_DIR": str(tmp / "detectors"),
        "TRIBUNAL_META_LEARNER_DIR": str(tmp / "artifacts"),  # no deployed meta-learner: the file above
        "TRIBUNAL_DRIFT_WINDOW": str(WINDOW),
        "TRIBUNAL_DRIFT_MIN_WINDOW": str(WINDOW),
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
    }
    entries = [
        detector_entry("probe", package="latency_probe"),
        detector_entry("slow_probe", package="latency_probe"),
    ]
    slow = {"slow_probe": {"TRIBUNAL_PROBE_LATENCY_MS": "40"}}
    with running_stack(tmp, entries, env=env, detector_env=slow) as running:
        gateway = running.service("gateway").url
        # Dim (authentic), grey (uncertain), then bright (AI-generated) images: the last WINDOW are mostly
        # bright, far from the dim training images, so the probes' scores have drifted.
        colours = [(20, 20, 24)] * 2 + [(128, 128, 128)] * 2 + [(235, 235, 230)] * 8
        for i, colour in enumerate(colours):
            image = png_bytes((48, 40), (colour[0], colour[1] - i % 3, colour[2]))
            answer = httpx.post(
                f"{gateway}/detect", files={"file": (f"i{i}.png", image, "image/png")}, timeout=30
            )
            assert answer.status_code == 200, answer.text
        yield running


def check_charts(page: Page, width: str) -> None:
    for test_id, (title, colours) in CHARTS.items():
        figure = page.get_by_test_id(test_id)
        expect(figure).to_be_visible()
        expect(figure.locator("figcaption")).to_have_text(title)
        # The canvas is an image named by the title, with the numbers in its accessible name.
        canvas = page.get_by_role("img", name=title)
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 80, (test_id, width, box)
        assert int(figure.get_attribute("data-points") or 0) > 0, (test_id, width)
        for colour in colours:
            page.wait_for_function(f"(args) => ({COLOUR_PIXELS})(args) > 30", arg=[test_id, colour])


def test_the_stats_page_draws_its_charts_at_desktop_and_phone_width(browser, charts_stack, shoot):
    gateway = charts_stack.service("gateway").url
    stats = httpx.get(f"{gateway}/stats", timeout=10).json()
    assert stats["by_verdict"] == {"real": 2, "uncertain": 2, "fake": 8}
    by_name = {d["name"]: d for d in stats["detectors"]}
    assert by_name["slow_probe"]["latency_ms"]["p50"] > by_name["probe"]["latency_ms"]["p50"]
    assert by_name["probe"]["agreement"] == {"compared": 10, "agreed": 10, "rate": 1.0}

    context = browser.new_context(viewport=DESKTOP, base_url=gateway, reduced_motion="reduce")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Stats", exact=True).click()

    # The drift warning and the table are still there, beside the charts.
    expect(page.get_by_test_id("drift-warning")).to_contain_text("Drift: probe, slow probe")
    expect(page.get_by_test_id("drift-probe")).to_contain_text("Drifted")
    check_charts(page, "desktop")
    verdicts = page.get_by_role("img", name="Verdicts per day")
    summary = "12 analyses in the last 30 days: ai-generated 8, authentic 2, uncertain 2. Busiest day "
    expect(verdicts).to_have_attribute("aria-label", re.compile(re.escape(summary)))
    latency = page.get_by_role("img", name="Detector latency")
    expect(latency).to_have_attribute("aria-label", re.compile(r"slow probe: median \d+ ms"))

    # Another stream's histogram, and another period, redraw.
    page.get_by_label("Scores of").select_option("fused:average")
    expect(page.get_by_test_id("chart-score-histogram").locator("figcaption")).to_have_text(
        "Live score histogram against training: fused score (average)"
    )
    page.get_by_label("Period").select_option("7")
    expect(verdicts).to_have_attribute("aria-label", re.compile("12 analyses in the last 7 days"))
    page.wait_for_function(f"(args) => ({COLOUR_PIXELS})(args) > 30", arg=["chart-verdicts-per-day", FAKE])
    shoot(page, "stats-charts", "desktop")
    context.close()

    phone = browser.new_context(viewport=PHONE, base_url=gateway, reduced_motion="reduce").new_page()
    phone.set_default_timeout(15_000)
    phone.goto("/statistics")
    check_charts(phone, "phone")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the Stats page is {overflow}px wider than a phone"
    shoot(phone, "stats-charts", "phone")
    phone.context.close()
