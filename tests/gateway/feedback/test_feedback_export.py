"""GET /feedback/export: admins only; the ZIP holds the corrected images and a manifest the benchmark's
corpus import (benchmark/corpus.py, what `make benchmark CORPUS=` runs) accepts; what cannot be
exported is listed with its reason, never silently dropped."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

from benchmark.corpus import import_corpora, read_imported
from gateway.db.models import Analysis
from support.accounts import bearer

FOLDER = "tribunal_feedback"


async def detect(client, data, headers, name) -> dict:
    response = await client.post("/detect", files={"file": (name, data, "image/png")}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def feedback(client, analysis_id, headers, **body) -> None:
    response = await client.post(f"/history/{analysis_id}/feedback", json=body, headers=headers)
    assert response.status_code == 200, response.text


def rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(f"{FOLDER}/{name}").decode())))


async def export(client, headers, **params) -> tuple[zipfile.ZipFile, dict]:
    response = await client.get("/feedback/export", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    return zipfile.ZipFile(io.BytesIO(response.content)), dict(response.headers)


async def test_the_export_is_a_corpus_the_benchmark_imports(auth_gateway, fakes, gw, tmp_path):
    # Photo-sized images: the corpus import keeps images whose shorter side is at least 256 px.
    pictures = [gw.image("PNG", size=(320, 288), seed=seed) for seed in range(4)]
    async with auth_gateway(keep_uploads=True) as client:
        admin = await bearer(client, "root")
        alice = await bearer(client, "alice")
        bob = await bearer(client, "bob")

        fakes.set("a", fakes.ok(0.9))
        a_fake = await detect(client, pictures[0], alice, "beach.png")
        b_fake = await detect(client, pictures[1], bob, "portrait.png")
        fakes.set("a", fakes.ok(0.1))
        a_real = await detect(client, pictures[2], alice, "city.png")
        b_real = await detect(client, pictures[3], bob, "forest.png")
        again = await detect(client, pictures[2], alice, "city-again.png")  # the same bytes, analysed twice

        await feedback(client, a_fake["id"], alice, label="real", note="taken on my phone")
        await feedback(client, b_fake["id"], bob, label="real")
        await feedback(client, a_real["id"], alice, label="ai", generator="flux")
        await feedback(client, again["id"], alice, label="ai", generator="flux")
        await feedback(client, b_real["id"], bob, label="ai")

        assert (await client.get("/feedback/export", headers=alice)).status_code == 403
        assert (await client.get("/feedback/export")).status_code == 401
        archive, headers = await export(client, admin)

    assert headers["x-feedback-exported"] == "4" and headers["x-feedback-skipped"] == "0"
    manifest = rows(archive, "manifest.csv")
    by_name = {row["source_path"]: row for row in manifest}
    # One row per image: the newest feedback on either analysis of city.png's bytes speaks for both.
    assert set(by_name) == {"beach.png", "portrait.png", "forest.png", "city-again.png"}
    assert {(r["label"], r["generator"], r["source_repo"]) for r in manifest} == {
        ("real", "real", "alice"),
        ("real", "real", "bob"),
        ("ai", "flux", "alice"),
        ("ai", "unknown_ai", "bob"),
    }
    beach = by_name["beach.png"]
    assert "taken on my phone" in beach["evidence"] and "verdict was fake" in beach["evidence"]
    assert archive.read(f"{FOLDER}/{beach['path']}") == pictures[0]
    assert rows(archive, "skipped.csv") == []
    assert "make benchmark CORPUS=" in archive.read(f"{FOLDER}/README.txt").decode()

    # Unpacked, the benchmark's import takes every row (two sources: two folds).
    archive.extractall(tmp_path / "unpacked")
    summary = import_corpora([tmp_path / "unpacked" / FOLDER / "manifest.csv"], tmp_path / "corpus", folds=2)
    assert summary.problems == [] and summary.too_small == []
    assert summary.gates_passed
    imported = read_imported(tmp_path / "corpus" / "manifest.csv")
    assert sorted((r.label, r.family, r.source) for r in imported) == [
        ("fake", "flux", f"{FOLDER}:alice"),
        ("fake", "other_ai", f"{FOLDER}:bob"),
        ("real", "real", f"{FOLDER}:alice"),
        ("real", "real", f"{FOLDER}:bob"),
    ]
    assert len({r.fold for r in imported}) == 2


async def test_what_cannot_be_exported_is_listed_with_its_reason(auth_gateway, fakes, gw, tmp_path):
    async with auth_gateway(keep_uploads=True) as client:
        admin = await bearer(client, "root")
        alice = await bearer(client, "alice")
        kept = await detect(client, gw.image(seed=1), alice, "kept.png")
        lost = await detect(client, gw.image(seed=2), alice, "lost.png")
        disputed = await detect(client, gw.image(seed=3), alice, "disputed.png")
        clip = await detect(client, gw.image(seed=4), alice, "clip.png")
        await feedback(client, kept["id"], alice, label="real")
        await feedback(client, lost["id"], alice, label="real")
        await feedback(client, disputed["id"], alice, label="real")
        await feedback(client, disputed["id"], admin, label="ai", generator="sdxl")
        await feedback(client, clip["id"], alice, label="ai")
        with client.app.state.gateway.db.session() as session:
            # As a row looks when keep_uploads was off, and as a video's row looks.
            session.get(Analysis, lost["id"]).stored_path = None
            session.get(Analysis, clip["id"]).media_type = "video"

        archive, headers = await export(client, admin, source="newsroom-2025")

    assert [(r["source_path"], r["source_repo"]) for r in rows(archive, "manifest.csv")] == [
        ("kept.png", "newsroom-2025")
    ]
    assert headers["x-feedback-exported"] == "1" and headers["x-feedback-skipped"] == "3"
    skipped = {row["filename"]: row["reason"] for row in rows(archive, "skipped.csv")}
    assert "not kept" in skipped["lost.png"]
    assert "video" in skipped["clip.png"]
    assert "conflicting feedback" in skipped["disputed.png"]
    assert "alice: real" in skipped["disputed.png"] and "root: ai" in skipped["disputed.png"]
    readme = archive.read(f"{FOLDER}/README.txt").decode()
    assert "Images: 1." in readme and "Skipped: 3" in readme


async def test_with_uploads_not_kept_nothing_is_exported_and_everything_is_listed(auth_gateway, gw):
    leftovers = set(Path(tempfile.gettempdir()).glob("tribunal-feedback-*.zip"))
    async with auth_gateway() as client:  # keep_uploads off, the default
        admin = await bearer(client, "root")
        answer = await detect(client, gw.image(), admin, "a.png")
        await feedback(client, answer["id"], admin, label="real")
        archive, headers = await export(client, admin)
        bad_source = await client.get("/feedback/export", params={"source": "a\nb"}, headers=admin)
    assert headers["x-feedback-exported"] == "0" and headers["x-feedback-skipped"] == "1"
    assert rows(archive, "manifest.csv") == []
    assert [row["analysis_id"] for row in rows(archive, "skipped.csv")] == [answer["id"]]
    assert bad_source.status_code == 422 and bad_source.json()["problems"][0]["field"] == "source"
    # The ZIP was built in a temporary file, removed once sent.
    assert set(Path(tempfile.gettempdir()).glob("tribunal-feedback-*.zip")) <= leftovers
