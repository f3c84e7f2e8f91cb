"""Archives as hostile input: each attack is a clear 4xx for the whole archive or one item's error, never
a crash, and no file is ever written outside the job's folder."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest


def archive(name: str, data: bytes) -> dict:
    return {"files": (name, data, "application/octet-stream")}


_STATE = ("data/tribunal.db", "data/jwt_secret")


def files_outside_jobs(root: Path) -> set[str]:
    """Every file under ``root`` except the gateway's own state and the job folders."""
    found = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.startswith("data/jobs/") and not relative.startswith(_STATE):
            found.add(relative)
    return found


async def refused(client, gw, data: bytes, name: str, status: int, code: str) -> dict:
    response = await client.post("/jobs", files=archive(name, data))
    assert response.status_code == status, response.text
    body = gw.error_body(response)
    assert body["error"] == code, body
    assert (await client.get("/jobs")).json()["total"] == 0  # no job was created
    return body


@pytest.mark.parametrize(
    "member",
    ["../evil.png", "a/../../evil.png", "/tmp/evil.png", "C:/evil.png", "..\\..\\evil.png"],
)
async def test_a_path_that_leaves_the_archive_refuses_it_whole(jobs_gateway, jobs, gw, tmp_path, member):
    before = files_outside_jobs(tmp_path)
    async with jobs_gateway() as client:
        for data, name in (
            (jobs.zip({"ok.png": gw.image(), member: gw.image()}), "a.zip"),
            (jobs.tar([("ok.png", gw.image()), (member, gw.image())]), "a.tar"),
        ):
            body = await refused(client, gw, data, name, 400, "unsafe_archive_path")
            assert "evil.png" in body["detail"]
    assert files_outside_jobs(tmp_path) == before
    assert not list(tmp_path.parent.rglob("evil.png"))
    jobs_dir = tmp_path / "data" / "jobs"
    assert not jobs_dir.exists() or list(jobs_dir.iterdir()) == []  # the refused job's folder is gone


async def test_links_and_special_members_are_failed_items_never_followed(jobs_gateway, jobs, gw, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(gw.image(seed=9))
    symlink = tarfile.TarInfo("link.png")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, str(secret)
    hardlink = tarfile.TarInfo("hard.png")
    hardlink.type, hardlink.linkname = tarfile.LNKTYPE, "ok.png"
    fifo = tarfile.TarInfo("pipe.png")
    fifo.type = tarfile.FIFOTYPE
    device = tarfile.TarInfo("dev.png")
    device.type = tarfile.CHRTYPE
    data = jobs.tar([("ok.png", gw.image()), symlink, hardlink, fifo, device], gz=True)
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=archive("links.tar.gz", data))
        assert response.status_code == 202, response.text
        job = await jobs.wait(client, response.json()["id"])
    states = {item["name"]: (item["state"], item["error_code"]) for item in job["items"]}
    assert states == {
        "ok.png": ("done", None),
        "link.png": ("failed", "unsupported_member"),
        "hard.png": ("failed", "unsupported_member"),
        "pipe.png": ("failed", "unsupported_member"),
        "dev.png": ("failed", "unsupported_member"),
    }
    assert job["name"] == "links.tar.gz"


async def test_a_zip_symlink_is_a_failed_item(jobs_gateway, jobs, gw):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ok.png", gw.image())
        link = zipfile.ZipInfo("link.png")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=archive("links.zip", buffer.getvalue()))
        job = await jobs.wait(client, response.json()["id"])
    states = {item["name"]: (item["state"], item["error_code"]) for item in job["items"]}
    assert states == {"ok.png": ("done", None), "link.png": ("failed", "unsupported_member")}


async def test_a_zip_bomb_is_refused_by_its_compression_ratio(jobs_gateway, jobs, gw):
    bomb = jobs.zip({"ok.png": gw.image(), "bomb.bmp": b"BM" + bytes(64 * 2**20)})
    assert len(bomb) < 200_000
    async with jobs_gateway() as client:
        body = await refused(client, gw, bomb, "bomb.zip", 413, "compression_ratio_exceeded")
        assert "bomb.bmp" in body["detail"]


async def test_a_tar_gz_bomb_is_refused_while_unpacking(jobs_gateway, jobs, gw):
    # gzip carries no trustworthy sizes at all: only counting the unpacked bytes can catch this.
    bomb = jobs.tar([("ok.png", gw.image()), ("bomb.bmp", b"BM" + bytes(64 * 2**20))], gz=True)
    assert len(bomb) < 200_000
    async with jobs_gateway() as client:
        await refused(client, gw, bomb, "bomb.tar.gz", 413, "compression_ratio_exceeded")


async def test_the_total_unpacked_size_is_capped(jobs_gateway, jobs, gw):
    # Incompressible members, so the ratio is fine and only the total (1 MB) is over.
    members = {f"{i}.png": b"\x89PNG\r\n\x1a\n" + os.urandom(400_000) for i in range(3)}
    async with jobs_gateway(jobs_max_unpacked_mb=1) as client:
        await refused(client, gw, jobs.zip(members), "big.zip", 413, "archive_too_large")
        await refused(client, gw, jobs.tar(list(members.items())), "big.tar", 413, "archive_too_large")


async def test_too_many_members_are_refused(jobs_gateway, jobs, gw):
    members = {f"{i}.png": gw.image() for i in range(6)}
    async with jobs_gateway(jobs_max_files=5) as client:
        await refused(client, gw, jobs.zip(members), "many.zip", 413, "too_many_files")
        await refused(client, gw, jobs.tar(list(members.items()), gz=True), "many.tgz", 413, "too_many_files")
        response = await client.post(
            "/jobs", files=[("files", (name, data, "image/png")) for name, data in members.items()]
        )
        assert response.status_code == 413 and gw.error_body(response)["error"] == "too_many_files"


async def test_a_zip_whose_directory_claims_millions_of_entries_is_refused_unparsed(jobs_gateway, jobs, gw):
    data = bytearray(jobs.zip({"a.png": gw.image()}))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 0xFFFE, 0xFFFE)  # entries on this disk, entries in total
    async with jobs_gateway(jobs_max_files=1000) as client:
        await refused(client, gw, bytes(data), "lying.zip", 413, "too_many_files")


async def test_nested_archives_and_non_media_members_are_failed_items(jobs_gateway, jobs, gw):
    inner = jobs.zip({"deep.png": gw.image()})
    data = jobs.zip(
        {
            "ok.png": gw.image(),
            "inner.zip": inner,
            "inner.tar": jobs.tar([("deep.png", gw.image())]),
            "notes.txt": b"just text",
            "empty.png": b"",
            "dir/": b"",
            "__MACOSX/._ok.png": b"resource fork",
        }
    )
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=archive("nested.zip", data))
        assert response.status_code == 202, response.text
        job = await jobs.wait(client, response.json()["id"])
    states = {item["name"]: (item["state"], item["error_code"]) for item in job["items"]}
    assert states == {
        "ok.png": ("done", None),
        "inner.zip": ("failed", "nested_archive"),
        "inner.tar": ("failed", "nested_archive"),
        "notes.txt": ("failed", "unsupported_media_type"),
        "empty.png": ("failed", "empty_file"),
    }


async def test_an_archive_among_other_files_is_not_unpacked(jobs_gateway, jobs, gw):
    async with jobs_gateway() as client:
        response = await client.post(
            "/jobs",
            files=[
                ("files", ("a.png", gw.image(), "image/png")),
                ("files", ("more.zip", jobs.zip({"b.png": gw.image()}), "application/zip")),
            ],
        )
        job = await jobs.wait(client, response.json()["id"])
    states = {item["name"]: (item["state"], item["error_code"]) for item in job["items"]}
    assert states == {"a.png": ("done", None), "more.zip": ("failed", "archive_among_files")}


async def test_a_member_over_the_upload_cap_is_a_failed_item(jobs_gateway, jobs, gw):
    big = gw.image(size=(400, 400))  # random pixels: about 480 KB of PNG
    async with jobs_gateway(max_upload_mb=0.2) as client:
        response = await client.post(
            "/jobs", files=archive("a.zip", jobs.zip({"small.png": gw.image(), "big.png": big}))
        )
        job = await jobs.wait(client, response.json()["id"])
    states = {item["name"]: (item["state"], item["error_code"]) for item in job["items"]}
    assert states == {"small.png": ("done", None), "big.png": ("failed", "file_too_large")}


async def test_encrypted_and_corrupt_members_are_failed_items(jobs_gateway, jobs, gw):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.png", gw.image())
        zf.writestr("locked.png", gw.image(seed=3))
        zf.writestr("broken.png", gw.image(seed=4))
    data = bytearray(buffer.getvalue())
    # Mark locked.png encrypted (general purpose flag bit 0) in its local and central headers.
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + 10] == b"locked.png":
                data[at + flag_at] |= 0x1
            at = data.find(signature, at + 4)
    # Flip bytes inside broken.png's compressed data: its CRC no longer matches.
    start = data.find(b"broken.png") + len(b"broken.png") + 200
    data[start : start + 16] = bytes(16)
    async with jobs_gateway() as client:
        response = await client.post("/jobs", files=archive("mixed.zip", bytes(data)))
        assert response.status_code == 202, response.text
        job = await jobs.wait(client, response.json()["id"])
    states = {item["name"]: (item["state"], item["error_code"]) for item in job["items"]}
    assert states["ok.png"] == ("done", None)
    assert states["locked.png"] == ("failed", "encrypted_member")
    assert states["broken.png"][0] == "failed"
    assert states["broken.png"][1] in ("unreadable_member", "undecodable_media")


@pytest.mark.parametrize(
    ("name", "cut"),
    [("t.zip", "zip"), ("t.tar", "tar"), ("t.tar.gz", "tar.gz")],
)
async def test_a_truncated_archive_is_a_400(jobs_gateway, jobs, gw, name, cut):
    members = [(f"{i}.png", gw.image(size=(200, 200), seed=i)) for i in range(3)]
    whole = jobs.zip(dict(members)) if cut == "zip" else jobs.tar(members, gz=cut == "tar.gz")
    async with jobs_gateway() as client:
        await refused(client, gw, whole[: len(whole) // 2], name, 400, "bad_archive")
        response = await client.post("/health")  # the gateway still answers
        assert response.status_code in (200, 405)


async def test_an_empty_archive_is_a_422(jobs_gateway, jobs, gw):
    async with jobs_gateway() as client:
        await refused(client, gw, jobs.zip({}), "empty.zip", 422, "no_files")
        await refused(client, gw, jobs.zip({"dir/": b""}), "dirs.zip", 422, "no_files")
