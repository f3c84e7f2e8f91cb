"""The one normalisation pipeline: whatever goes in, a 256x256 metadata-free JPEG comes out."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from benchmark.features import estimate_jpeg_quality, file_facts
from benchmark.normalise import (
    JPEG_QUALITY_RANGE,
    MIN_SOURCE_SHORT,
    PATCH_SIZE,
    SourceTooSmall,
    encode_jpeg,
    load_rgb,
    plan_and_render,
    trim_letterbox,
)
from support.textures import pink_noise


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    return pink_noise(1200, 1600, np.random.default_rng(7))


def _save(img: Image.Image, path, fmt: str, **kw):
    img.save(path, fmt, **kw)
    return path


def _normalise(path, seed: int = 1) -> list[tuple[int, bytes]]:
    return [
        (plan.quality, encode_jpeg(patch, plan.quality))
        for plan, patch in plan_and_render(load_rgb(path), seed)
    ]


def test_every_input_format_and_size_comes_out_as_the_same_kind_of_file(tmp_path, scene):
    exif = Image.Exif()
    exif[0x0110] = "Canon EOS R5"  # camera model
    inputs = [
        _save(scene, tmp_path / "big.png", "PNG"),
        _save(scene.resize((400, 300)), tmp_path / "thumb.webp", "WEBP", quality=60),
        _save(scene.resize((800, 600)), tmp_path / "camera.jpg", "JPEG", quality=98, exif=exif),
        _save(scene.resize((600, 450)), tmp_path / "scan.tif", "TIFF"),
    ]
    for path in inputs:
        patches = _normalise(path)
        assert len(patches) >= 2
        for quality, data in patches:
            with Image.open(io.BytesIO(data)) as out:
                assert (out.format, out.size, out.mode) == ("JPEG", (PATCH_SIZE, PATCH_SIZE), "RGB")
                assert not out.getexif() and "icc_profile" not in out.info and "comment" not in out.info
                assert "progressive" not in out.info
                assert estimate_jpeg_quality(out) == quality
            assert JPEG_QUALITY_RANGE[0] <= quality <= JPEG_QUALITY_RANGE[1]


def test_normalisation_is_deterministic(tmp_path, scene):
    path = _save(scene.resize((700, 500)), tmp_path / "a.png", "PNG")
    assert _normalise(path, seed=3) == _normalise(path, seed=3)
    assert _normalise(path, seed=3) != _normalise(path, seed=4)


def test_images_are_only_ever_downscaled():
    img = pink_noise(300, 420, np.random.default_rng(0))
    for plan, _ in plan_and_render(img, seed=5):
        x0, y0, x1, y1 = plan.box
        assert x1 - x0 >= PATCH_SIZE and y1 - y0 >= PATCH_SIZE  # source region at least the patch size


def test_too_small_sources_are_refused():
    with pytest.raises(SourceTooSmall, match=str(MIN_SOURCE_SHORT)):
        plan_and_render(pink_noise(200, 900, np.random.default_rng(0)), seed=1)


def test_flat_crops_are_redrawn_or_skipped():
    flat = Image.new("RGB", (800, 600), (90, 120, 150))
    assert plan_and_render(flat, seed=1) == []


def test_letterbox_bars_are_trimmed():
    img = Image.new("RGB", (500, 400), (0, 0, 0))
    img.paste(pink_noise(300, 500, np.random.default_rng(2)), (0, 50))
    assert trim_letterbox(img).size == (500, 300)


def test_alpha_is_composited_on_white_and_exif_orientation_applied(tmp_path):
    rgba = pink_noise(300, 400, np.random.default_rng(1)).convert("RGBA")
    rgba.putpixel((10, 10), (255, 0, 0, 0))
    rgba.save(tmp_path / "t.png")
    assert load_rgb(tmp_path / "t.png").getpixel((10, 10)) == (255, 255, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    pink_noise(300, 400, np.random.default_rng(1)).save(tmp_path / "r.jpg", exif=exif)
    assert load_rgb(tmp_path / "r.jpg").size == (300, 400)


def test_a_logo_band_can_be_cut_off_before_anything_else(tmp_path):
    img = pink_noise(500, 400, np.random.default_rng(3))
    img.save(tmp_path / "badge.png")
    assert load_rgb(tmp_path / "badge.png", (0.0, 0.18, 1.0, 1.0)).size == (400, 410)


def test_file_facts_read_what_a_file_gives_away(tmp_path, scene):
    path = _save(scene.resize((320, 240)), tmp_path / "x.jpg", "JPEG", quality=77)
    facts = file_facts(path)
    assert (facts.width, facts.height, facts.format, facts.jpeg_quality) == (320, 240, "JPEG", 77.0)
    assert facts.file_size == path.stat().st_size
