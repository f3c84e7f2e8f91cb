"""Feedback in the browser (real gateway, real detectors, Chromium): a user analyses an image, says on its
analysis page that it is actually AI-made by FLUX with a note, sees it saved (and still there after a
reload), changes it; the Stats page counts it; the admin's export holds the image, labelled."""

from __future__ import annotations

import csv
import io
import zipfile

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.accounts import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN, USER = "editor", "reporter"
DESKTOP = {"width": 1280, "height": 900}


def photo_png() -> bytes:
    """A 480x360 gradient: big enough for the benchmark's import (shorter side at least 256 px)."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((480, 360)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def token(gateway: str, username: str) -> dict[str, str]:
    answer = httpx.post(f"{gateway}/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def signed_in_page(browser, gateway: str, username: str) -> Page:
    page = browser.new_context(viewport=DESKTOP, base_url=gateway).new_page()
    page.set_default_timeout(15_000)
    page.goto("/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(username)
    return page


def test_a_user_corrects_a_verdict_and_the_admin_exports_it(browser, stack, shoot):
    gateway = stack.service("gateway").url
    for name in (ADMIN, USER):  # the first account is the admin
        registered = httpx.post(f"{gateway}/auth/register", json={"username": name, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
    picture = photo_png()

    page = signed_in_page(browser, gateway, USER)
    page.get_by_test_id("file-input").set_input_files(
        {"name": "protest.png", "mimeType": "image/png", "buffer": picture}
    )
    page.get_by_role("button", name="Analyze", exact=True).click()
    expect(page.get_by_test_id("verdict")).to_be_visible()
    page.get_by_role("link", name="history", exact=True).click()
    expect(page.get_by_test_id("analysis-title")).to_have_text("protest.png")
    analysis_id = page.url.rsplit("/", 1)[-1]

    # "Is this wrong?": AI-made, by FLUX, with a note.
    control = page.get_by_test_id("feedback")
    expect(control.get_by_role("heading", name="Is this wrong?")).to_be_visible()
    expect(page.get_by_test_id("feedback-saved")).to_have_count(0)
    control.get_by_label("AI-made").check()
    control.get_by_label("Generator").select_option("flux")
    control.get_by_label("Note (optional)").fill("the caption says it was generated")
    control.get_by_role("button", name="Send feedback").click()
    saved = page.get_by_test_id("feedback-saved")
    expect(saved).to_contain_text("AI-made (FLUX)")
    expect(saved).to_contain_text("the caption says it was generated")
    shoot(page, "analysis-feedback", "desktop")

    # Saved on the gateway: a reload shows it, and the form holds it for changing.
    page.reload()
    expect(page.get_by_test_id("feedback-saved")).to_contain_text("AI-made (FLUX)")
    expect(control.get_by_label("Generator")).to_have_value("flux")
    expect(control.get_by_role("button", name="Update feedback")).to_be_visible()

    # The Stats page counts the analysis with feedback.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Stats", exact=True).click()
    expect(page.get_by_test_id("feedback-agreement-image")).to_contain_text("image1")
    shoot(page, "stats-feedback", "desktop")

    # Only an admin may export; the export holds the image, labelled by the user's feedback.
    user_headers, admin_headers = token(gateway, USER), token(gateway, ADMIN)
    assert httpx.get(f"{gateway}/feedback/export", headers=user_headers).status_code == 403
    export = httpx.get(f"{gateway}/feedback/export", headers=admin_headers, timeout=60)
    assert export.status_code == 200, export.text
    assert export.headers["x-feedback-exported"] == "1"
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    [row] = csv.DictReader(io.StringIO(archive.read("tribunal_feedback/manifest.csv").decode()))
    assert (row["label"], row["generator"], row["source_repo"]) == ("ai", "flux", USER)
    assert analysis_id in row["evidence"] and "the caption says it was generated" in row["evidence"]
    assert archive.read(f"tribunal_feedback/{row['path']}") == picture

    # The user changes their mind: the feedback is replaced, not added to.
    page.goto(f"/analyses/{analysis_id}")
    control.get_by_label("real", exact=True).check()
    control.get_by_role("button", name="Update feedback").click()
    expect(page.get_by_test_id("feedback-saved")).to_contain_text("You said this is real")
    detail = httpx.get(f"{gateway}/history/{analysis_id}", headers=user_headers).json()
    assert [(f["username"], f["label"]) for f in detail["feedback"]] == [(USER, "real")]

    # The admin's Stats page downloads the same export as a file.
    page.context.close()
    admin_page = signed_in_page(browser, gateway, ADMIN)
    admin_page.goto("/statistics")
    with admin_page.expect_download() as download:
        admin_page.get_by_role("button", name="Export all feedback (ZIP)").click()
    assert download.value.suggested_filename.startswith("tribunal-feedback-")
    expect(admin_page.get_by_test_id("feedback-export-result")).to_contain_text("Exported 1 images")
    admin_page.context.close()
