"""Importing labelled corpora (``make benchmark CORPUS=...``): two tiny generated corpora, end to end.

The corpora are made here (no shared corpus needed): a PNG with an EXIF orientation, a large JPEG with
EXIF, a small WebP, an RGBA PNG, JPEGs already stored by the rule (one with a comment), a too-small
image, an unreadable file, a missing file, bad labels, an exact duplicate, and a source name that both
corpora use.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import corpus
from benchmark.corpus import import_corpora, read_imported
from benchmark.manifest import ManifestError
from scripts.build_benchmark import main
from support.textures import pink_noise

FOLDS = 3
MIN_CLASS = 4
RED, BLUE = (220, 30, 30), (30, 30, 220)


def _noise(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    return pink_noise(height, width, rng, contrast=30.0)


def _rotated_png(path: Path) -> None:
    """Stored landscape, left red / right blue, with EXIF orientation 6 (display rotated 90 deg CW)."""
    img = Image.new("RGB", (600, 300), RED)
    img.paste(BLUE, (300, 0, 600, 300))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, exif=exif.tobytes())


def _write_manifest(path: Path, header: list[str], rows: list[list[str]]) -> dict[str, int]:
    """Write a manifest; returns each row's line number by its path."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return {row[0]: i + 2 for i, row in enumerate(rows)}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("corpora")
    rng = np.random.default_rng(12)
    alpha, beta = root / "alpha", root / "beta"
    rows: list[list[str]] = []

    def add(
        rel: str, label: str, generator: str, source: str, img: Image.Image | None = None, **save
    ) -> None:
        if img is not None:
            (alpha / rel).parent.mkdir(parents=True, exist_ok=True)
            img.save(alpha / rel, **save)
        rows.append([rel, label, generator, source, "MIT"])

    for i in range(3):
        add(f"real/cam/p{i}.png", "real", "real", "cams/one", _noise(rng, 300, 320))
    (alpha / "real/cam/p0_copy.png").write_bytes((alpha / "real/cam/p0.png").read_bytes())
    add("real/cam/p0_copy.png", "real", "real", "cams/one")  # exact duplicate of p0
    add("real/cam/tiny.png", "real", "real", "cams/one", _noise(rng, 200, 300))
    for i in range(2):
        add(f"real/shared/s{i}.png", "real", "", "shared/repo", _noise(rng, 320, 300))
    (alpha / "real/two").mkdir(parents=True)
    _rotated_png(alpha / "real/two/rotated.png")
    add("real/two/rotated.png", "real", "real", "photos/two")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    add(
        "real/two/large.jpg",
        "real",
        "real",
        "photos/two",
        _noise(rng, 1200, 900),
        quality=90,
        exif=exif.tobytes(),
        comment=b"CREATOR: gd-jpeg",  # re-encoded: Pillow would carry the comment over if let
    )
    rgba = _noise(rng, 400, 400).convert("RGBA")
    rgba.putalpha(Image.new("L", (400, 400), 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 200, 200))
    add("real/art/rgba.png", "real", "real_art", "art/museum", rgba)
    add("real/art/painting.png", "real", "real_art", "art/museum", _noise(rng, 300, 300))
    add(
        "real/three/stored.jpg",
        "real",
        "real",
        "photos/three",
        _noise(rng, 384, 384),
        quality=95,
        subsampling=0,
    )
    add(
        "real/three/commented.jpg",
        "real",
        "real",
        "photos/three",
        _noise(rng, 320, 320),
        quality=95,
        subsampling=0,
        comment=b"AppleMark",
    )
    for generator, sources in (("sd1", ("sd/a", "sd/b")), ("dalle3", ("dalle/a", "dalle/b"))):
        for source in sources:
            for i in range(2):
                add(f"ai/{source}/{i}.png", "ai", generator, source, _noise(rng, 330, 300))
    for i in range(2):
        add(f"ai/mj/{i}.png", "fake", "midjourney", "mj/only", _noise(rng, 300, 300))
    add("ai/flux/small.webp", "ai", "flux", "flux/x", _noise(rng, 300, 280), lossless=True)
    (alpha / "ai/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    add("ai/broken.png", "ai", "sdxl", "sd/a")
    add("ai/missing.png", "ai", "sdxl", "sd/a")
    # Two bad rows naming files that good rows import: ``lines`` keeps the later (bad) row's line.
    add("ai/sd/a/0.png", "maybe", "sd1", "sd/a")  # bad label
    add("ai/sd/b/0.png", "ai", "real_art", "sd/b")  # an AI label with a real generator
    lines = _write_manifest(
        alpha / "manifest.csv", ["path", "label", "generator", "source_repo", "license"], rows
    )

    beta_rows = []
    for rel, label, source in (
        *((f"shared/b{i}.png", "real", "shared/repo") for i in range(2)),
        *((f"gen/x{i}.png", "ai", "beta/ai") for i in range(3)),
        *((f"gen/y{i}.png", "fake", "beta/ai2") for i in range(2)),
        ("faces/real/f0.png", "real", "beta/faces"),
    ):
        (beta / rel).parent.mkdir(parents=True, exist_ok=True)
        _noise(rng, 310, 300).save(beta / rel)
        beta_rows.append([rel, label, source])
    _write_manifest(beta / "manifest.csv", ["path", "label", "source"], beta_rows)
    return {
        "alpha": alpha / "manifest.csv",
        "beta": beta / "manifest.csv",
        "lines": lines,
        "rows": {"alpha": len(rows), "beta": len(beta_rows)},
    }


def _run(corpora: dict, dest: Path) -> corpus.ImportSummary:
    return import_corpora(
        [corpora["alpha"], corpora["beta"]], dest, folds=FOLDS, seed=7, min_class_images=MIN_CLASS
    )


@pytest.fixture(scope="module")
def imported(corpora, tmp_path_factory):
    dest = tmp_path_factory.mktemp("out") / "corpus"
    summary = _run(corpora, dest)
    return summary, {(r.corpus, r.origin_path): r for r in read_imported(dest / "manifest.csv")}


def test_stored_files_follow_the_storage_rule(imported):
    _, rows = imported
    for row in rows.values():
        with Image.open(row.path) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            assert im.width == im.height == row.stored_side <= 512
            assert not im.getexif() and not {"exif", "icc_profile", "xmp", "comment"} & set(im.info)
            assert im.applist == [("APP0", im.applist[0][1])]
    assert rows["alpha", "real/two/large.jpg"].stored_side == 512
    assert rows["alpha", "ai/flux/small.webp"].stored_side == 280  # cropped, never resized
    assert rows["alpha", "ai/flux/small.webp"].orig_format == "WEBP"


def test_exif_orientation_and_transparency(imported):
    _, rows = imported
    rotated = rows["alpha", "real/two/rotated.png"]
    assert rotated.stored_side == 300
    pixels = np.asarray(Image.open(rotated.path), dtype=int)
    # Upright, the left (red) half is on top; unrotated, the crop would be red left / blue right.
    assert np.abs(pixels[20, 150] - RED).max() < 20 and np.abs(pixels[280, 150] - BLUE).max() < 20
    rgba = np.asarray(Image.open(rows["alpha", "real/art/rgba.png"].path), dtype=int)
    assert rgba[:150, :150].min() > 245  # the transparent quarter is white


def test_conforming_jpeg_keeps_its_bytes(imported, corpora):
    _, rows = imported
    alpha = corpora["alpha"].parent
    stored = rows["alpha", "real/three/stored.jpg"]
    assert stored.path.read_bytes() == (alpha / "real/three/stored.jpg").read_bytes()
    commented = rows["alpha", "real/three/commented.jpg"]
    original = (alpha / "real/three/commented.jpg").read_bytes()
    assert b"AppleMark" in original and b"AppleMark" not in commented.path.read_bytes()
    assert len(commented.path.read_bytes()) == len(original) - len(b"AppleMark") - 4
    assert np.array_equal(
        np.asarray(Image.open(commented.path)), np.asarray(Image.open(io.BytesIO(original)))
    )


def test_every_source_in_one_fold_and_both_labels_in_every_fold(imported):
    summary, rows = imported
    folds_of, labels_of = defaultdict(set), defaultdict(set)
    for row in rows.values():
        folds_of[row.source].add(row.fold)
        labels_of[row.fold].add(row.label)
    assert all(len(f) == 1 for f in folds_of.values())
    assert sorted(labels_of) == list(range(FOLDS))
    assert all(labels == {"real", "fake"} for labels in labels_of.values())
    assert summary.gates_passed


def test_families_and_attribution_classes(imported):
    _, rows = imported
    by = {key: (r.label, r.generator, r.family, r.class_name) for key, r in rows.items()}
    assert by["alpha", "ai/sd/a/0.png"] == ("fake", "sd1", "sd", "sd")
    assert by["alpha", "ai/dalle/b/1.png"] == ("fake", "dalle3", "gpt_image", "gpt_image")
    assert by["alpha", "real/art/painting.png"] == ("real", "real_art", "real", "real")
    assert by["alpha", "real/shared/s0.png"] == ("real", "real", "real", "real")  # empty generator
    assert by["alpha", "ai/mj/0.png"] == ("fake", "midjourney", "midjourney", "other_ai")  # one source
    assert by["alpha", "ai/flux/small.webp"][2:] == ("flux", "other_ai")  # one image
    assert by["beta", "gen/x0.png"] == ("fake", "unknown_ai", "other_ai", "other_ai")  # no generator column
    assert {key for key, r in rows.items() if r.subset == "faces"} == {("beta", "faces/real/f0.png")}


def test_corpora_keep_their_sources_apart(imported):
    _, rows = imported
    sources = {r.source for r in rows.values()}
    assert {"alpha:shared/repo", "beta:shared/repo"} <= sources
    assert {r.corpus for r in rows.values()} == {"alpha", "beta"}


def test_left_out_rows_are_reported_with_line_numbers(imported, corpora):
    summary, rows = imported
    lines, manifest = corpora["lines"], corpora["alpha"]
    reported = {(p.line, p.path): p.reason for p in summary.problems}
    assert "not found" in reported[lines["ai/missing.png"], "ai/missing.png"]
    assert "unreadable" in reported[lines["ai/broken.png"], "ai/broken.png"]
    assert "'maybe'" in reported[lines["ai/sd/a/0.png"], "ai/sd/a/0.png"]
    assert "real images" in reported[lines["ai/sd/b/0.png"], "ai/sd/b/0.png"]
    assert [(p.line, p.reason[:9]) for p in summary.too_small] == [(lines["real/cam/tiny.png"], "too small")]
    assert len(summary.duplicates) == 1 and ("alpha", "real/cam/p0_copy.png") not in rows
    card = (summary.dest / "DATASET_CARD.md").read_text()
    assert f"{manifest}:{lines['ai/broken.png']}: ai/broken.png: unreadable" in card
    assert f"{manifest}:{lines['real/cam/tiny.png']}: real/cam/tiny.png: too small" in card
    for name, n_rows in corpora["rows"].items():
        assert f"| {name} | `{corpora[name]}` | {n_rows} |" in card
    assert "seed 7" in card and "size confound" in card and "must not read crop size" in card


def test_second_run_reuses_files_and_rewrites_the_same_manifest(corpora, tmp_path, monkeypatch):
    dest = tmp_path / "corpus"
    first = _run(corpora, dest)
    manifest = (dest / "manifest.csv").read_bytes()
    stray = dest / "images" / "ff" / ("f" * 64 + ".jpg")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left over")

    def no_store(*_args, **_kwargs):
        raise AssertionError("a stored image was made again")

    monkeypatch.setattr(corpus, "store_image", no_store)
    second = _run(corpora, dest)
    assert (dest / "manifest.csv").read_bytes() == manifest
    assert second.reused == len(first.rows) + len(first.duplicates)
    assert not stray.exists() and second.removed == 1
    assert sorted(p.name for p in (dest / "images").glob("*/*")) == sorted(
        f"{r.sha256}.jpg" for r in second.rows
    )


def test_read_imported_names_file_and_line(imported, tmp_path):
    summary, rows = imported
    row = next(iter(rows.values()))
    assert row.path.is_absolute() and row.path.is_file() and isinstance(row.fold, int)
    assert rows["alpha", "ai/sd/a/0.png"].is_fake and not rows["alpha", "real/cam/p1.png"].is_fake
    lines = (summary.dest / "manifest.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",real,", ",maybe,", 1).replace(",fake,", ",maybe,", 1)
    broken = summary.dest / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as err:
        read_imported(broken)
    assert err.value.line == 4 and f"{broken}:4:" in str(err.value)
    broken.unlink()


def test_cli_imports_comma_separated_corpora(corpora, tmp_path, capsys):
    code = main(
        ["--corpus", f"{corpora['alpha']},{corpora['beta']}", "--out", str(tmp_path), "--folds", str(FOLDS)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "from 2 corpora" in out and "size confound" in out
    rows = read_imported(tmp_path / "corpus" / "manifest.csv")
    # With the default 20 images per class, every AI family here is too small to be its own class.
    assert {r.class_name for r in rows} == {"real", "other_ai"}
    assert not (tmp_path / "manifest.csv").exists()  # the patch benchmark was not built


@pytest.mark.parametrize(
    ("header", "column"),
    [(["path", "generator", "source_repo"], "label"), (["path", "label", "repo"], "source_repo")],
)
def test_cli_missing_column_is_a_clear_error(tmp_path, capsys, header, column):
    manifest = tmp_path / "mine" / "manifest.csv"
    manifest.parent.mkdir()
    _write_manifest(manifest, header, [["a.png", "real", "x"]])
    assert main(["--corpus", str(manifest), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"missing required column '{column}'" in err and str(manifest) in err
    assert "Traceback" not in err
    assert main(["--corpus", str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "out")]) == 2


def test_cli_fails_when_a_source_spans_folds(corpora, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        corpus, "assign_folds", lambda labels, sources, k, seed: [i % k for i in range(len(labels))]
    )
    assert main(["--corpus", str(corpora["alpha"]), "--out", str(tmp_path), "--folds", "2"]) == 1
    assert "FAIL sources in one fold" in capsys.readouterr().out


def test_corpus_names_stay_unique(tmp_path):
    a, b, c = tmp_path / "x" / "one.csv", tmp_path / "x" / "two.csv", tmp_path / "y" / "x" / "one.csv"
    names = corpus.corpus_names([a, b, c, tmp_path / "z" / "m.csv"])
    assert names[tmp_path / "z" / "m.csv"] == "z"
    assert len(set(names.values())) == 4


def test_too_few_sources_for_the_folds(corpora, tmp_path):
    with pytest.raises(ManifestError, match="sources cannot fill 20 folds"):
        import_corpora([corpora["beta"]], tmp_path / "corpus", folds=20)
    shutil.rmtree(tmp_path / "corpus", ignore_errors=True)
