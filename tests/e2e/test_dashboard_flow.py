"""Sign up, analyse an image, read the verdict and each detector, find it in history, visit every page."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USER, PASSWORD = "ada", "analytical engine 1843"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def photo_png(seed: int = 1) -> bytes:
    """A smooth, photo-like test picture (gradients and soft blobs), so the screenshots look like something."""
    h, w = 360, 480
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    rng = np.random.default_rng(seed)
    rgb = np.stack([0.35 + 0.5 * x, 0.45 + 0.3 * y, 0.8 - 0.4 * x * y], axis=-1)
    for _ in range(6):
        cy, cx, r = rng.random(3) * [1, 1, 0.25] + [0, 0, 0.05]
        blob = np.exp(-(((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2)))[..., None]
        rgb = rgb * (1 - 0.6 * blob) + 0.6 * blob * rng.random(3)
    buffer = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def heatmap_png() -> str:
    h, w = 90, 120
    y, x = np.mgrid[0:h, 0:w]
    heat = np.exp(-(((x - 80) ** 2) + (y - 35) ** 2) / 400.0)
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = (heat * 220).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def drop_file(page: Page, name: str, data: bytes) -> None:
    """Drag-and-drop a file onto the drop zone, the way a browser delivers it."""
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const zone = document.querySelector('[data-testid="dropzone"]');
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [name, base64.b64encode(data).decode()],
    )


def nav(page: Page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def assert_fits_width(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} is {overflow}px wider than the screen"


def new_page(browser, stack, viewport) -> Page:
    context = browser.new_context(viewport=viewport, base_url=stack.service("gateway").url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def sign_in(page: Page) -> None:
    page.goto("/signin")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(USER)


def test_sign_up_analyse_and_find_it_in_history(browser, stack, shoot):
    page = new_page(browser, stack, DESKTOP)
    gateway = stack.service("gateway").url

    # Auth is on: the dashboard sends a stranger to sign in.
    page.goto("/")
    expect(page).to_have_url(f"{gateway}/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "signin", "desktop")

    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    shoot(page, "signup", "desktop")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(f"{USER}admin")  # the first account
    expect(page.get_by_role("heading", name="Analyze a file")).to_be_visible()
    shoot(page, "analyze-empty", "desktop")

    # Drop an image, ask for heatmaps, analyse; the progress indicator shows while it runs.
    drop_file(page, "harbour.png", photo_png())
    expect(page.get_by_test_id("chosen-file")).to_contain_text("harbour.png")
    page.get_by_label("Show where the evidence is (heatmaps)").check()
    page.get_by_role("button", name="Analyze", exact=True).click()
    expect(page.get_by_test_id("verdict")).to_be_visible()
    verdict = page.get_by_test_id("verdict").inner_text()
    assert verdict in {"AI-generated", "Authentic", "Uncertain"}
    expect(page.get_by_test_id("detector-latency_probe")).to_contain_text("OK")
    expect(page.get_by_test_id("detector-metadata_provenance")).to_contain_text("Abstained")
    expect(page.get_by_test_id("score")).to_contain_text("%")
    shoot(page, "analyze-result", "desktop")

    # The same analysis, in the history list and its detail page.
    nav(page, "History").click()
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("harbour.png")
    expect(rows.first).to_contain_text(verdict)
    expect(page.get_by_test_id("stats")).to_contain_text("1analyses")
    shoot(page, "history", "desktop")
    page.get_by_role("link", name="harbour.png").click()
    expect(page.get_by_test_id("analysis-title")).to_have_text("harbour.png")
    expect(page.get_by_test_id("verdict")).to_have_text(verdict)
    expect(page.get_by_test_id("detector-latency_probe")).to_be_visible()
    expect(page.get_by_alt_text("The analysed file")).to_be_visible()  # kept upload, fetched with the token
    shoot(page, "analysis-detail", "desktop")

    # Filters narrow the list (the verdict filter is applied server-side).
    nav(page, "History").click()
    other = {"AI-generated": "real", "Authentic": "fake", "Uncertain": "fake"}[verdict]
    page.locator("select[name=verdict]").select_option(other)
    expect(page.get_by_text("No analyses match.")).to_be_visible()

    # Detectors: live readiness and versions from /models.
    nav(page, "Detectors").click()
    for name in ("latency_probe", "metadata_provenance"):
        card = page.get_by_test_id(f"model-{name}")
        expect(card).to_contain_text("Ready")
        expect(card).to_contain_text("Version")
    shoot(page, "detectors", "desktop")

    # API keys: create one (shown once), use it from a script, revoke it.
    nav(page, "API keys").click()
    page.get_by_label("New key name").fill("nightly batch")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-key-value").inner_text()
    assert key.startswith("trb_")
    expect(page.get_by_test_id("key-table")).to_contain_text("nightly batch")
    shoot(page, "api-keys", "desktop")
    scripted = httpx.post(
        f"{gateway}/detect", files={"file": ("s.png", photo_png(2), "image/png")}, headers={"X-API-Key": key}
    )
    assert scripted.status_code == 200, scripted.text
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_test_id("key-table")).to_contain_text("revoked")
    refused = httpx.post(
        f"{gateway}/detect", files={"file": ("s.png", photo_png(2), "image/png")}, headers={"X-API-Key": key}
    )
    assert refused.status_code == 401

    # Nothing is readable without an identity.
    assert httpx.get(f"{gateway}/history").status_code == 401
    page.get_by_role("button", name="Sign out").click()
    page.goto("/analyses")
    expect(page).to_have_url(f"{gateway}/signin")
    page.context.close()


def test_the_heatmap_is_drawn_over_the_image(browser, stack, shoot):
    # No detector shipped today returns heatmaps, so this answer is the gateway's real answer for the
    # file with one heatmap added, to check the overlay the dashboard draws from heatmap_png.
    page = new_page(browser, stack, DESKTOP)
    sign_in(page)

    def add_heatmap(route):
        response = route.fetch()
        answer = response.json()
        answer["detectors"][0]["heatmap_png"] = heatmap_png()
        route.fulfill(response=response, body=json.dumps(answer))

    page.route("**/detect", add_heatmap)
    page.get_by_test_id("file-input").set_input_files(
        {"name": "street.png", "mimeType": "image/png", "buffer": photo_png(3)}
    )
    page.get_by_label("Show where the evidence is (heatmaps)").check()
    page.get_by_role("button", name="Analyze", exact=True).click()
    expect(page.get_by_test_id("heatmap")).to_be_visible()
    overlay = page.locator("img.heatmap-overlay")
    expect(overlay).to_be_visible()
    assert overlay.get_attribute("src").startswith("data:image/png;base64,")
    shoot(page, "analyze-heatmap", "desktop")
    page.context.close()


def test_sources_read_as_generator_families(browser, stack, shoot):
    # The stack's detectors give no class probabilities, so the gateway's real answers get an attribution
    # put in (public names, as the gateway sends them) to check what people read for each name.
    page = new_page(browser, stack, DESKTOP)
    sign_in(page)
    attribution = {
        "predicted_source": "unknown_ai",
        "probs": {"real": 0.1, "unknown_ai": 0.45, "gpt_image": 0.25, "sd": 0.15, "mystery_net": 0.05},
    }

    def rewrite(change):
        def handle(route):
            response = route.fetch()
            body = response.json()
            change(body)
            route.fulfill(response=response, body=json.dumps(body))

        return handle

    def attributed(answer):
        answer.update(verdict="fake", score_fake=0.9, confidence=0.8, attribution=attribution)

    page.route("**/detect", rewrite(attributed))
    page.get_by_test_id("file-input").set_input_files(
        {"name": "families.png", "mimeType": "image/png", "buffer": photo_png(6)}
    )
    page.get_by_role("button", name="Analyze", exact=True).click()
    chart = page.get_by_test_id("attribution-chart")
    for shown in ("AI (unknown generator)", "GPT-image / DALL-E", "Stable Diffusion 1.x/2.x", "real"):
        expect(chart).to_contain_text(shown)
    expect(chart).to_contain_text("mystery_net")  # a name the dashboard does not know is shown as-is
    expect(chart).not_to_contain_text("unknown_ai")
    expect(page.locator("p.summary")).to_have_text(
        "Made by AI; no generator family is likely enough to name."
    )
    leftmost = page.evaluate(
        "Math.min(...[...document.querySelectorAll('.attr-label')].map((t) => t.getBBox().x))"
    )
    assert leftmost >= 0, "a source label is cut off at the chart's left edge"
    shoot(page, "analyze-attribution", "desktop")

    def first_row_by_gpt_image(listing):
        listing["items"][0]["predicted_source"] = "gpt_image"

    def sources(stats):
        stats["by_source"] = {"unknown_ai": 2, "gpt_image": 1, "none": 3}

    page.route(re.compile(r"/history\?"), rewrite(first_row_by_gpt_image))
    page.route(re.compile(r"/stats\?"), rewrite(sources))
    nav(page, "History").click()
    expect(page.get_by_test_id("stats")).to_contain_text("AI (unknown generator) (2), GPT-image / DALL-E (1)")
    expect(page.get_by_test_id("history-row").first).to_contain_text("GPT-image / DALL-E")
    page.context.close()


def test_every_page_is_usable_at_phone_width(browser, stack, shoot):
    page = new_page(browser, stack, PHONE)
    page.goto("/signin")
    assert_fits_width(page)
    shoot(page, "signin", "phone")
    sign_in(page)

    page.get_by_test_id("file-input").set_input_files(
        {"name": "phone-photo.png", "mimeType": "image/png", "buffer": photo_png(4)}
    )
    page.get_by_role("button", name="Analyze", exact=True).click()
    expect(page.get_by_test_id("verdict")).to_be_visible()
    assert_fits_width(page)
    shoot(page, "analyze-result", "phone")

    for link, name in (("History", "history"), ("Detectors", "detectors"), ("API keys", "api-keys")):
        nav(page, link).click()
        page.wait_for_load_state("networkidle")
        assert_fits_width(page)
        shoot(page, name, "phone")
    nav(page, "History").click()
    page.get_by_test_id("history-row").filter(has_text="phone-photo.png").get_by_role("link").first.click()
    expect(page.get_by_test_id("analysis-title")).to_have_text("phone-photo.png")
    assert_fits_width(page)
    shoot(page, "analysis-detail", "phone")
    page.context.close()


def test_a_failed_detector_is_marked_in_the_result(browser, stack, shoot):
    page = new_page(browser, stack, DESKTOP)
    sign_in(page)
    probe = stack.service("latency_probe")
    os.kill(probe.pid, signal.SIGKILL)
    probe.process.wait(5)

    page.get_by_test_id("file-input").set_input_files(
        {"name": "after-outage.png", "mimeType": "image/png", "buffer": photo_png(5)}
    )
    page.get_by_role("button", name="Analyze", exact=True).click()
    expect(page.get_by_test_id("verdict")).to_be_visible()
    failed = page.get_by_test_id("detector-latency_probe")
    expect(failed).to_contain_text("Unavailable")
    expect(failed).to_have_class("failed")
    expect(page.get_by_test_id("degraded")).to_contain_text("latency probe")
    shoot(page, "analyze-degraded", "desktop")
    page.context.close()
