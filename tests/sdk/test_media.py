import pytest
from PIL import Image

from support.media import encode, png_claiming_size
from tribunal_sdk.errors import MediaTooLarge, UndecodableMedia, UnsupportedMediaType
from tribunal_sdk.media import MediaLimits, decode_image, sniff


@pytest.mark.parametrize(
    "fmt,name",
    [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tiff"), ("GIF", "gif")],
)
def test_sniff_recognises_images_by_bytes(fmt, name):
    data = encode(Image.new("RGB", (8, 8)), fmt)
    assert sniff(data).media_type == "image"
    assert sniff(data).format == name


@pytest.mark.parametrize(
    "head,fmt",
    [
        (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 16, "mp4"),
        (b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 16, "mov"),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 16, "webm"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
    ],
)
def test_sniff_recognises_video_containers(head, fmt):
    assert sniff(head).media_type == "video"
    assert sniff(head).format == fmt


def test_sniff_rejects_empty_and_unknown():
    with pytest.raises(UndecodableMedia):
        sniff(b"")
    with pytest.raises(UnsupportedMediaType):
        sniff(b"hello, this is a text file")
    with pytest.raises(UnsupportedMediaType, match="HEIF"):
        sniff(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 16)


def test_decode_applies_exif_orientation():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    decoded = decode_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (20, 40)
    assert decoded.format == "jpeg"
    assert decoded.image.mode == "RGB"
    assert len(decoded.sha256) == 64


def test_decode_converts_palette_and_alpha_to_rgb():
    rgba = Image.new("RGBA", (10, 10), (0, 255, 0, 128))
    assert decode_image(encode(rgba, "PNG")).image.mode == "RGB"
    assert decode_image(encode(rgba.convert("P"), "PNG")).image.mode == "RGB"


def test_truncated_files_are_undecodable():
    img = Image.effect_noise((128, 128), 64).convert("RGB")
    for fmt in ("PNG", "JPEG"):
        data = encode(img, fmt)
        with pytest.raises(UndecodableMedia, match=fmt.lower()):
            decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    bomb = png_claiming_size(20000, 20000)
    assert len(bomb) < 10_000
    with pytest.raises(MediaTooLarge) as info:
        decode_image(bomb)
    assert info.value.status_code == 413


def test_pixel_cap_is_configurable():
    data = encode(Image.new("RGB", (200, 100)), "PNG")
    with pytest.raises(MediaTooLarge, match="MP"):
        decode_image(data, MediaLimits(max_pixels=10_000))
    assert decode_image(data, MediaLimits(max_pixels=20_000)).size == (200, 100)


def test_byte_cap():
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(MediaTooLarge):
        decode_image(data, MediaLimits(max_bytes=len(data) - 1))


def test_video_is_not_an_image():
    with pytest.raises(UnsupportedMediaType):
        decode_image(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
