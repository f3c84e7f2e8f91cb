"""The Batch page in the browser (real gateway, real detector, Chromium): a user sends a folder as a job and
watches it finish, filters its items, opens one's analysis, downloads the results as CSV, sends a ZIP,
reopens the first job from the list, and cancels a third job of 120 files sent in two parts.

latency_probe scores an image by its mean brightness, so bright pictures are AI-generated and dark ones
authentic, and it takes PROBE_MS per image, so the big job is still running when it is cancelled.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.accounts import PASSWORD
from support.media import png_bytes
from support.stack import detector_entry, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN, USER = "chief", "desk"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PROBE_MS = 250
BRIGHT, DARK = (235, 232, 230), (20, 22, 24)


@pytest.fixture(scope="module")
def batch_stack(built_dashboard, tmp_path_factory) -> Iterator:
    tmp = tmp_path_factory.mktemp("batch")
    env = {
        "TRIBUNAL_AUTH_REQUIRED": "true",
        "TRIBUNAL_KEEP_UPLOADS": "true",  # thumbnails of items sent elsewhere come from the kept files
        "TRIBUNAL_JOBS_CONCURRENCY": "1",
        "TRIBUNAL_JOBS_QUIET_S": "0",
        "TRIBUNAL_DETECT_PER_MINUTE": "0",
        "TRIBUNAL_LOG_LEVEL": "WARNING",
    }
    probe = {"latency_probe": {"TRIBUNAL_PROBE_LATENCY_MS": str(PROBE_MS)}}
    with running_stack(tmp, [detector_entry("latency_probe")], env=env, detector_env=probe) as running:
        yield running


def picture(colour: tuple[int, int, int], i: int = 0) -> bytes:
    return png_bytes((48, 40), (colour[0], colour[1] - i % 5, colour[2]))


def make_folder(root: Path) -> Path:
    """Two bright and three dark pictures (one in a subfolder), a broken PNG, and two files left out."""
    folder = root / "assignment"
    (folder / "day2").mkdir(parents=True)
    (folder / "bright1.png").write_bytes(picture(BRIGHT, 1))
    (folder / "bright2.png").write_bytes(picture(BRIGHT, 2))
    (folder / "dark1.png").write_bytes(picture(DARK, 1))
    (folder / "dark2.png").write_bytes(picture(DARK, 2))
    (folder / "day2" / "dark3.png").write_bytes(picture(DARK, 3))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 10)
    (folder / "notes.txt").write_text("captions to check")
    (folder / ".DS_Store").write_bytes(b"\0" * 16)
    return folder


def zip_of_three() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("wire/a.png", picture(BRIGHT, 3))
        archive.writestr("wire/b.png", picture(DARK, 4))
        archive.writestr("wire/c.png", picture(DARK, 5))
    return buffer.getvalue()


def bearer(gateway: str, username: str) -> dict[str, str]:
    answer = httpx.post(f"{gateway}/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def nav(page: Page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def test_a_batch_is_sent_followed_filtered_downloaded_and_cancelled(browser, batch_stack, shoot, tmp_path):
    gateway = batch_stack.service("gateway").url
    for name in (ADMIN, USER):  # the first account is the admin; the user sees only their own jobs
        registered = httpx.post(f"{gateway}/auth/register", json={"username": name, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
    page = browser.new_context(viewport=DESKTOP, base_url=gateway, accept_downloads=True).new_page()
    page.set_default_timeout(20_000)
    page.goto("/signin")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(USER)

    nav(page, "Batch").click()
    expect(page.get_by_role("heading", name="Batch analysis")).to_be_visible()
    expect(page.get_by_text("No batch jobs yet.")).to_be_visible()
    shoot(page, "batch-empty", "desktop")

    # A folder: its images (and the broken one) are sent, its notes and .DS_Store left out.
    page.get_by_test_id("batch-folder-input").set_input_files(str(make_folder(tmp_path)))
    chosen = page.get_by_test_id("batch-chosen")
    expect(chosen).to_contain_text("6 files")
    expect(chosen).to_contain_text("2 other files of the folder left out")
    page.get_by_role("button", name="Start batch").click()

    # The job opens at once and its progress runs to the end: five analysed, the broken one failed.
    expect(page).to_have_url(re.compile(r"/batch\?job=[0-9a-f]{32}$"))
    folder_job = page.url.split("job=")[1].split("&")[0]
    expect(page.get_by_test_id("job-state")).to_have_text("Done", timeout=30_000)
    expect(page.get_by_test_id("job-progress")).to_contain_text("6 of 6 finished · 5 done · 1 failed")
    expect(page.get_by_role("progressbar", name="Job progress")).to_have_attribute("aria-valuenow", "100")
    rows = page.get_by_test_id("job-item")
    expect(rows).to_have_count(6)
    broken = rows.filter(has_text="assignment/broken.png")
    expect(broken).to_contain_text("failed")
    expect(broken.get_by_role("link")).to_have_count(0)  # nothing to open: no analysis
    expect(rows.filter(has_text="assignment/day2/dark3.png")).to_contain_text("Authentic")
    expect(rows.filter(has_text="assignment/bright1.png")).to_contain_text("AI-generated")
    # Thumbnails of the files as dropped; the broken one shows its placeholder.
    expect(page.get_by_test_id("job-thumb")).to_have_count(5)
    expect(broken.get_by_test_id("job-thumb")).to_have_count(0)
    expect(page.get_by_test_id("job-row")).to_have_count(1)
    shoot(page, "batch-done", "desktop")

    # Filters: by verdict (answered by the gateway), by state, and both cleared.
    page.locator("select[name=verdict]").select_option("fake")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_contain_text("AI-generated")
    page.locator("select[name=verdict]").select_option("real")
    expect(rows).to_have_count(3)
    page.locator("select[name=verdict]").select_option("")
    page.locator("select[name=item_state]").select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("assignment/broken.png")
    page.locator("select[name=verdict]").select_option("fake")
    expect(page.get_by_text("No items match.")).to_be_visible()
    page.locator("select[name=item_state]").select_option("")
    page.locator("select[name=verdict]").select_option("")
    expect(rows).to_have_count(6)

    # A finished item opens its analysis.
    rows.filter(has_text="assignment/bright2.png").get_by_role("link").click()
    expect(page.get_by_test_id("analysis-title")).to_have_text("bright2.png")  # the history keeps base names
    expect(page.get_by_test_id("verdict")).to_have_text("AI-generated")
    page.go_back()
    expect(rows).to_have_count(6)

    # The results as CSV, fetched with the user's token and saved by the browser.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == f"job-{folder_job}.csv"
    saved = Path(download.value.path()).read_text()
    by_name = {row["name"]: row for row in csv.DictReader(io.StringIO(saved))}
    assert set(by_name) == {
        "assignment/bright1.png",
        "assignment/bright2.png",
        "assignment/dark1.png",
        "assignment/dark2.png",
        "assignment/day2/dark3.png",
        "assignment/broken.png",
    }
    assert [by_name[f"assignment/bright{i}.png"]["verdict"] for i in (1, 2)] == ["fake", "fake"]
    assert {by_name[n]["verdict"] for n in by_name if "dark" in n} == {"real"}
    assert by_name["assignment/broken.png"]["state"] == "failed"
    assert by_name["assignment/broken.png"]["error_code"]
    assert all(by_name[n]["analysis_id"] for n in by_name if n != "assignment/broken.png")

    # Files dropped on the zone are chosen the same way.
    page.evaluate(
        """() => {
            const transfer = new DataTransfer();
            for (const name of ["one.png", "two.jpg"]) transfer.items.add(new File(["x"], name, { type: "image/png" }));
            const zone = document.querySelector('[data-testid="batch-dropzone"]');
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }"""
    )
    expect(page.get_by_test_id("batch-chosen")).to_contain_text("2 files")
    expect(page.get_by_test_id("batch-chosen")).to_contain_text("two.jpg")

    # An archive: the gateway unpacks it; its thumbnails come from the files the gateway kept.
    page.get_by_test_id("batch-files-input").set_input_files(
        {"name": "wire.zip", "mimeType": "application/zip", "buffer": zip_of_three()}
    )
    expect(page.get_by_test_id("batch-chosen")).to_contain_text("1 file")
    page.get_by_role("button", name="Start batch").click()
    expect(page.get_by_test_id("job-name")).to_have_text("wire.zip")
    expect(page.get_by_test_id("job-state")).to_have_text("Done", timeout=30_000)
    expect(page.get_by_test_id("job-progress")).to_contain_text("3 of 3 finished · 3 done · 0 failed")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="wire/a.png")).to_contain_text("AI-generated")
    expect(page.get_by_test_id("job-thumb")).to_have_count(3)
    src = page.get_by_test_id("job-thumb").first.get_attribute("src")
    assert src and src.startswith("blob:")

    # Earlier jobs: both listed, newest first; the folder's job reopens with its items.
    jobs = page.get_by_test_id("job-row")
    expect(jobs).to_have_count(2)
    expect(jobs.first).to_contain_text("wire.zip")
    expect(jobs.nth(1)).to_contain_text("6 / 6")
    jobs.nth(1).get_by_role("link").click()
    expect(page.get_by_test_id("job-progress")).to_contain_text("6 of 6 finished")
    expect(rows).to_have_count(6)
    expect(page.get_by_test_id("job-thumb")).to_have_count(5)  # still the files sent from this tab
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)  # nothing left to cancel

    # 120 files go in two requests (100 + 20, the second with add_to) into one job; it is cancelled.
    many = [
        {
            "name": f"frame{i:03d}.png",
            "mimeType": "image/png",
            "buffer": picture(BRIGHT if i % 2 else DARK, i),
        }
        for i in range(120)
    ]
    page.get_by_test_id("batch-files-input").set_input_files(many)
    expect(page.get_by_test_id("batch-chosen")).to_contain_text("120 files")
    sent: list[str] = []
    page.on("request", lambda r: r.method == "POST" and "/jobs" in r.url and sent.append(r.url))
    page.get_by_role("button", name="Start batch").click()
    # Both parts are in once the job counts 120 items.
    expect(page.get_by_test_id("job-progress")).to_contain_text("of 120 finished", timeout=20_000)
    expect(page.get_by_test_id("batch-upload-progress")).to_have_count(0)
    expect(page.get_by_test_id("job-name")).to_have_text("120 files")
    expect(page.get_by_test_id("job-progress")).to_contain_text("waiting")
    expect(page.get_by_test_id("job-state")).to_have_text("Running")
    big_job = page.url.split("job=")[1].split("&")[0]
    assert sent == [f"{gateway}/jobs", f"{gateway}/jobs?add_to={big_job}"]
    page.set_viewport_size(PHONE)
    fits = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert fits <= 1, f"the Batch page is {fits}px wider than a phone"
    shoot(page, "batch-running", "phone")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Cancel job").click()
    expect(page.get_by_test_id("job-state")).to_have_text("Cancelled", timeout=10_000)
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.get_by_test_id("job-progress")).not_to_contain_text("waiting", timeout=10_000)
    expect(page.get_by_test_id("job-progress")).to_contain_text("cancelled")
    shoot(page, "batch-cancelled", "desktop")

    job = httpx.get(f"{gateway}/jobs/{big_job}", headers=bearer(gateway, USER)).json()
    progress = job["progress"]
    assert job["state"] == "cancelled" and job["cancelled_at"]
    assert progress["total"] == 120 and progress["queued"] == progress["running"] == 0
    assert progress["cancelled"] >= 60, progress  # cancelled early: most never ran
    assert progress["done"] + progress["cancelled"] == 120, progress
    page.select_option("select[name=item_state]", "cancelled")
    expect(page.get_by_test_id("job-items")).to_contain_text("cancelled")
    expect(page.get_by_role("navigation", name="Item pages")).to_contain_text(
        f"{progress['cancelled']} matching"
    )

    # The admin sees every job; the user's own list is theirs alone.
    assert httpx.get(f"{gateway}/jobs", headers=bearer(gateway, ADMIN)).json()["total"] == 3
    page.context.close()
