"""check_whole: a PNG or JPEG is judged whole from its structure, no pixel decoded, as verify_image judges it."""

import pytest
from PIL import Image

from support.media import encode, noisy_image
from tribunal_sdk import media
from tribunal_sdk.errors import TribunalError, UndecodableMedia


def _variants() -> dict[str, bytes]:
    img = noisy_image((160, 120))
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "png": encode(img, "PNG"),
        "png, fast compression": encode(img, "PNG", compress_level=1),
        "png with exif": encode(img, "PNG", exif=exif.tobytes()),
        "jpeg": encode(img, "JPEG", quality=85),
        "jpeg, progressive": encode(img, "JPEG", quality=85, progressive=True),
        "jpeg with exif": encode(img, "JPEG", exif=exif.tobytes()),
    }


def _outcome(check, data: bytes) -> str:
    try:
        header = media.probe_image(data)
        if check is media.check_whole:
            media.check_whole(data, header)
        else:
            media.verify_image(data, None, header)
    except TribunalError as exc:
        return exc.code
    return "ok"


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(media, "verify_image", refuse)


@pytest.mark.parametrize("name", list(_variants()))
def test_a_whole_png_or_jpeg_passes_without_a_pixel_decoded(name, no_decoding):
    data = _variants()[name]
    media.check_whole(data, media.probe_image(data))


@pytest.mark.parametrize("name", list(_variants()))
def test_every_cut_is_judged_as_verify_image_judges_it(name):
    data = _variants()[name]
    step = max(1, len(data) // 150)
    cuts = {*range(0, 200), *range(0, len(data), step), *range(len(data) - 64, len(data) + 1)}
    for cut in sorted(cuts):
        piece = data[:cut]
        assert _outcome(media.check_whole, piece) == _outcome(media.verify_image, piece), (name, cut)


def test_a_truncated_file_is_undecodable_and_names_its_format():
    for fmt in ("PNG", "JPEG"):
        data = encode(noisy_image(), fmt)
        piece = data[: len(data) // 2]
        with pytest.raises(UndecodableMedia, match=fmt.lower()):
            media.check_whole(piece, media.probe_image(piece))


def test_a_whole_png_with_corrupt_image_data_is_left_to_the_decoders(no_decoding):
    # The structure is whole, so nothing is decoded here; the detectors' decode refuses it (400).
    data = bytearray(encode(noisy_image(), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 40] = bytes(30)
    media.check_whole(bytes(data), media.probe_image(bytes(data)))
    with pytest.raises(UndecodableMedia):
        media.decode_image(bytes(data))


def test_a_png_ending_right_after_its_image_data_is_checked_by_decoding():
    img = noisy_image((64, 64))
    whole = encode(img, "PNG")
    no_iend = whole[: whole.rindex(b"IEND") - 4]
    header = media.probe_image(no_iend)
    media.check_whole(no_iend, header)  # decodes (Pillow needs no IEND), found by verify_image
    idat = whole.index(b"IDAT")
    length = int.from_bytes(whole[idat - 4 : idat], "big")
    cut = whole[: idat + 4 + length // 2]
    with pytest.raises(UndecodableMedia):
        media.check_whole(cut, media.probe_image(cut))


def test_other_formats_are_verified_by_decoding():
    data = encode(noisy_image(), "BMP")
    assert _outcome(media.check_whole, data) == "ok"
    assert _outcome(media.check_whole, data[: len(data) // 2]) == "undecodable_media"
