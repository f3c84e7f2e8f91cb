"""Decoding holds at most one full-resolution buffer, checking holds none, and the pixels do not change.

Pillow allocates pixel memory outside Python's allocator, so tracemalloc cannot see it: the peaks are
measured as the growth of a fresh subprocess's peak RSS (VmHWM) around one call.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from support.media import encode
from tribunal_sdk import media
from tribunal_sdk.errors import UndecodableMedia
from tribunal_sdk.media import decode_image

SIDE = 4000  # 16 MP: 64 MB decoded as RGB (Pillow keeps 4 bytes a pixel)
DECODED_MB = SIDE * SIDE * 4 / 2**20

_MEASURE = textwrap.dedent(
    """
    import io, json, sys
    from PIL import Image
    from tribunal_sdk import media

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024

    data = open(sys.argv[2], "rb").read()
    for fmt in ("PNG", "JPEG"):  # imports and first-call costs paid before the baseline
        tiny = io.BytesIO()
        Image.new("RGB", (8, 8)).save(tiny, format=fmt)
        media.decode_image(tiny.getvalue())
    before = status("VmRSS")
    result = getattr(media, sys.argv[1])(data)
    print(json.dumps({"peak_rise_mb": status("VmHWM") - before}))
    """
)


def peak_rise_mb(function: str, path: Path) -> float:
    sdk = Path(__file__).resolve().parents[2] / "sdk"
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, function, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(sdk), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return json.loads(out.stdout)["peak_rise_mb"]


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> dict[str, Path]:
    """16 MP uploads that are small on disk, as an attacker would send them."""
    folder = tmp_path_factory.mktemp("huge")
    gradient = np.linspace(0, 255, SIDE, dtype=np.uint8)
    rgb = Image.fromarray(np.stack([np.tile(gradient, (SIDE, 1))] * 3, axis=-1))
    files = {
        "png": rgb,
        "rgba.png": Image.new("RGBA", (SIDE, SIDE), (10, 200, 30, 128)),
        "jpeg": rgb,
    }
    paths = {}
    for name, image in files.items():
        path = folder / f"huge.{name}"
        image.save(path, format="JPEG" if name == "jpeg" else "PNG", quality=90)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", ["png", "rgba.png", "jpeg"])
def test_a_large_decode_holds_one_full_resolution_buffer(huge, name):
    rise = peak_rise_mb("decode_image", huge[name])
    # The old path held the load, an EXIF-transpose copy and an RGB copy at once (3x).
    assert rise < 1.4 * DECODED_MB, f"decoding a {SIDE}x{SIDE} {name} raised peak RSS by {rise:.0f} MB"


@pytest.mark.parametrize("name", ["png", "rgba.png", "jpeg"])
def test_checking_that_a_large_image_decodes_holds_no_pixels(huge, name):
    rise = peak_rise_mb("verify_image", huge[name])
    assert rise < 16, f"checking a {SIDE}x{SIDE} {name} raised peak RSS by {rise:.0f} MB"


def _reference(data: bytes) -> Image.Image:
    """How uploads were decoded before memory-bounded decoding: load, EXIF-transpose, convert."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return ImageOps.exif_transpose(img).convert("RGB")


def _ordinary_uploads() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    rgba = Image.fromarray(rng.integers(0, 256, (67, 91, 4), dtype=np.uint8), "RGBA")
    rgb = rgba.convert("RGB")
    uploads = {
        "png rgb": encode(rgb, "PNG"),
        "png rgba": encode(rgba, "PNG"),
        "png la": encode(rgba.convert("LA"), "PNG"),
        "png palette": encode(rgb.convert("P"), "PNG"),
        "png 16-bit grey": encode(Image.fromarray(rng.integers(0, 65535, (40, 30), dtype=np.uint16)), "PNG"),
        "jpeg": encode(rgb, "JPEG"),
        "jpeg grey": encode(rgb.convert("L"), "JPEG"),
        "jpeg cmyk": encode(rgb.convert("CMYK"), "JPEG"),
        "webp rgba": encode(rgba, "WEBP", lossless=True),
        "tiff rgba": encode(rgba, "TIFF"),
        "gif": encode(rgb.convert("P"), "GIF"),
        "bmp": encode(rgb, "BMP"),
    }
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        uploads[f"jpeg orientation {orientation}"] = encode(rgb, "JPEG", exif=exif.tobytes())
        uploads[f"png rgba orientation {orientation}"] = encode(rgba, "PNG", exif=exif.tobytes())
    return uploads


@pytest.mark.parametrize("name,data", list(_ordinary_uploads().items()))
def test_ordinary_uploads_decode_to_exactly_the_same_pixels(name, data):
    decoded = decode_image(data)
    expected = _reference(data)
    assert decoded.image.mode == "RGB" and decoded.image.size == expected.size
    assert np.array_equal(np.asarray(decoded.image), np.asarray(expected))


@pytest.mark.parametrize("name,data", list(_ordinary_uploads().items()))
def test_the_headers_tell_the_size_and_the_check_accepts_what_decodes(name, data):
    expected = _reference(data)
    assert media.verify_image(data).oriented_size == expected.size
    header = media.probe_image(data)
    assert header.oriented_size == expected.size
    assert header.decoded_bytes >= expected.width * expected.height * 4


def _png(raw: bytes, width: int, height: int, interlace: int = 0) -> bytes:
    """An 8-bit RGB PNG around ``raw`` scanlines (filter bytes included), written by hand."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _interlaced_png(pixels: np.ndarray) -> bytes:
    """An Adam7-interlaced PNG (Pillow does not write them)."""
    passes = (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    )
    raw = b"".join(
        b"\x00" + row.tobytes() for x0, y0, dx, dy in passes for row in pixels[y0::dy, x0::dx] if row.size
    )
    return _png(raw, pixels.shape[1], pixels.shape[0], interlace=1)


def test_interlaced_and_broken_pngs_are_judged_as_pillow_judges_them():
    pixels = np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    data = _interlaced_png(pixels)
    assert np.array_equal(np.asarray(decode_image(data).image), pixels)
    media.verify_image(data)
    for broken in (data[: len(data) - 40], data[:60]):
        with pytest.raises(UndecodableMedia, match="png"):
            media.verify_image(broken)
        with pytest.raises(UndecodableMedia, match="png"):
            decode_image(broken)
    rows = [b"\x00" + bytes(24)] * 8
    rows[5] = b"\x09" + bytes(24)  # filter types stop at 4
    bad_filter = _png(b"".join(rows), 8, 8)
    with pytest.raises(UndecodableMedia, match="filter"):
        media.verify_image(bad_filter)
    with pytest.raises(UndecodableMedia, match="png"):
        decode_image(bad_filter)


def _outcome(function, data: bytes) -> str:
    try:
        function(data)
    except (UndecodableMedia, media.MediaTooLarge, media.UnsupportedMediaType) as exc:
        return exc.code
    return "ok"


def test_the_bounded_check_accepts_and_refuses_exactly_what_a_full_decode_does():
    """Truncated and byte-flipped PNGs (plain, interlaced, uncompressed) and JPEGs (baseline, progressive)."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (41, 57, 3), dtype=np.uint8)
    sources = [
        encode(Image.fromarray(pixels), "PNG"),
        encode(Image.fromarray(pixels), "PNG", compress_level=0),
        _interlaced_png(pixels),
        encode(Image.fromarray(pixels), "JPEG"),
        encode(Image.fromarray(pixels), "JPEG", progressive=True),
    ]
    checked = 0
    for data in sources:
        variants = [data[:cut] for cut in rng.integers(8, len(data), 15)]
        for _ in range(25):
            flipped = bytearray(data)
            flipped[int(rng.integers(8, len(data)))] = int(rng.integers(0, 256))
            variants.append(bytes(flipped))
        for variant in variants:
            assert _outcome(media.verify_image, variant) == _outcome(decode_image, variant), variant[:4]
            checked += 1
    assert checked == 200
