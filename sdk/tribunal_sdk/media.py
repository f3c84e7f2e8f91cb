"""Safe media handling: recognise a file by its bytes, then decode it within caps.

Everything a client uploads passes through here, in the detectors and in the gateway, so the rules
(format allow-list, byte cap, pixel cap, EXIF orientation) live in one place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from tribunal_sdk.errors import MediaTooLarge, UndecodableMedia, UnsupportedMediaType
from tribunal_sdk.png_stream import PngStreamError, check_png_stream

MediaType = Literal["image", "video"]

# Formats we accept, keyed by the name sniff() returns.
IMAGE_FORMATS = ("jpeg", "png", "webp", "bmp", "tiff", "gif")
VIDEO_FORMATS = ("mp4", "mov", "webm", "avi")


@dataclass(frozen=True)
class Sniffed:
    """What the leading bytes say the file is."""

    media_type: MediaType
    format: str


def sniff(data: bytes) -> Sniffed:
    """Recognise the container from magic numbers; never trusts a file name or client content type.

    Raises UndecodableMedia for empty input and UnsupportedMediaType for anything not allow-listed.
    """
    if not data:
        raise UndecodableMedia("the upload is empty (0 bytes)", code="empty_file")
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "avi")
    if head.startswith(b"BM") and len(head) >= 26:
        return Sniffed("image", "bmp")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("image", "tiff")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "gif")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # Matroska family; WebM declares its doctype near the start.
        return Sniffed("video", "webm")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return Sniffed("video", "mov")
        if brand.startswith((b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")):
            raise UnsupportedMediaType(
                f"HEIF/AVIF images (brand {brand.decode(errors='replace').strip()!r}) are not supported; "
                "convert to JPEG or PNG"
            )
        return Sniffed("video", "mp4")
    raise UnsupportedMediaType(
        "unrecognised file type: accepted images are "
        + ", ".join(IMAGE_FORMATS)
        + "; accepted videos are "
        + ", ".join(VIDEO_FORMATS)
    )


@dataclass(frozen=True)
class MediaLimits:
    """Caps applied to every upload."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 40_000_000  # ~ 8000 x 5000; a decompression bomb is refused before decoding

    def check_size(self, n_bytes: int) -> None:
        if n_bytes > self.max_bytes:
            raise MediaTooLarge(
                f"upload is {n_bytes / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:.1f} MB",
                code="file_too_large",
            )


@dataclass(frozen=True)
class ImageInput:
    """A decoded image ready for a detector: RGB pixels plus the untouched original bytes.

    ``image`` is None only for a detector that declared it reads no pixels (``reads_pixels = False``,
    e.g. metadata_provenance): its upload is checked to decode, but its pixels are never held.
    """

    image: Image.Image | None  # RGB, EXIF orientation applied
    raw: bytes  # the file exactly as uploaded (metadata detectors read this)
    format: str  # sniffed format name, e.g. "jpeg"
    sha256: str = ""
    meta: dict = field(default_factory=dict)
    header: ImageHeader | None = None

    @property
    def size(self) -> tuple[int, int]:
        if self.image is None:
            assert self.header is not None
            return self.header.oriented_size
        return self.image.size


@dataclass(frozen=True)
class VideoInput:
    """A video upload written to a temporary file, so decoders can stream frames instead of holding it."""

    path: Path
    format: str
    n_bytes: int
    sha256: str = ""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks (weights and data sets can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- decoding within caps and within memory --------------------------------------------------------

_ORIENTATION_TAG = 0x0112
# Orientations that swap width and height (EXIF 5-8: transpose, rotate 270, transverse, rotate 90).
_SWAPS_SIDES = {5, 6, 7, 8}
# Bytes a pixel takes in Pillow's memory, by mode (everything not listed takes 4: RGB, RGBA, LA, CMYK, I, F).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# PNG alpha is dropped while decoding (the RGBX unpackers), so an RGBA PNG never exists in RGBA.
_PNG_ALPHA_DROP = {"RGBA": "RGBX", "RGBA;16B": "RGBX;16B"}


def _bytes_per_pixel(mode: str) -> int:
    return _BYTES_PER_PIXEL.get(mode, 4)


@dataclass(frozen=True)
class ImageHeader:
    """What an image's headers say, read without decoding a pixel."""

    format: str  # sniffed format name, e.g. "png"
    width: int  # as stored, before EXIF orientation
    height: int
    mode: str  # Pillow's mode for the stored pixels
    orientation: int = 1  # EXIF orientation as far as the headers show it (1: as stored)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def oriented_size(self) -> tuple[int, int]:
        if self.orientation in _SWAPS_SIDES:
            return self.height, self.width
        return self.width, self.height

    @property
    def decoded_mode(self) -> str:
        """The mode ``decode_image`` decodes into before any conversion to RGB."""
        return "RGB" if self.format == "png" and self.mode == "RGBA" else self.mode

    @property
    def decoded_bytes(self) -> int:
        """Peak bytes ``decode_image`` holds for the pixels: one full-resolution buffer, plus a second one
        while an EXIF rotation or a conversion to RGB runs (the rotation first, in the smaller mode)."""
        stored = self.pixels * _bytes_per_pixel(self.decoded_mode)
        peak = stored
        if self.orientation not in (1, 0):
            peak = 2 * stored
        if self.decoded_mode != "RGB":
            peak = max(peak, stored + self.pixels * 4)
        return peak

    @property
    def check_bytes(self) -> int:
        """Peak bytes ``verify_image`` holds: ~1 MiB for PNG, a 1/8-scale decode for JPEG, else a full one."""
        if self.format == "png":
            return 2 * 1024 * 1024
        if self.format == "jpeg":
            return self.pixels * 4 // 64 + 1024 * 1024
        return self.pixels * _bytes_per_pixel(self.mode)


def _header_orientation(img: Image.Image, fmt: str) -> int:
    # PngImageFile.getexif() decodes the whole image to reach chunks after the pixels; the base class
    # reads only what the headers already gave (an eXIf chunk or XMP before IDAT).
    exif = Image.Image.getexif(img) if fmt == "png" else img.getexif()
    value = exif.get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@contextlib.contextmanager
def _decoding(fmt: str) -> Iterator[None]:
    """Turn Pillow's failures into the SDK's errors; its bomb warning is an error, not a warning."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (MediaTooLarge, UndecodableMedia):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLarge(f"image refused as a decompression bomb: {exc}", code="too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UndecodableMedia(f"{fmt} image could not be decoded: {exc}") from exc


def _check_pixels(width: int, height: int, limits: MediaLimits) -> None:
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"image is {width}x{height} = {width * height / 1e6:.0f} MP; "
            f"the limit is {limits.max_pixels / 1e6:.0f} MP",
            code="too_many_pixels",
        )


def probe_image(data: bytes, limits: MediaLimits | None = None) -> ImageHeader:
    """Size cap, sniff (allow-list), header-only open and pixel cap: what an image is, no pixels decoded."""
    limits = limits or MediaLimits()
    limits.check_size(len(data))
    return read_header(data, sniff(data), limits)


def read_header(data: bytes, sniffed: Sniffed, limits: MediaLimits) -> ImageHeader:
    """``probe_image`` for bytes whose size was checked and whose container was sniffed already."""
    if sniffed.media_type != "image":
        raise UnsupportedMediaType(f"expected an image, got a {sniffed.format} video")
    with _decoding(sniffed.format), Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        _check_pixels(width, height, limits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF: orientation is best effort
            try:
                orientation = _header_orientation(img, sniffed.format)
            except Exception:  # a broken EXIF block must not refuse the image
                orientation = 1
        return ImageHeader(sniffed.format, width, height, img.mode, orientation)


def verify_image(
    data: bytes, limits: MediaLimits | None = None, header: ImageHeader | None = None
) -> ImageHeader:
    """Check that an image decodes, holding only ``ImageHeader.check_bytes``, and return its header.

    For callers that need no pixels (metadata readers): a PNG's data stream is inflated piece by piece
    (``png_stream``), a JPEG is decoded at 1/8 scale (libjpeg reads every coefficient, so truncation and
    corruption still show, but the output is 1/64 of the pixels); other formats are decoded whole and
    dropped. ``header``: what ``probe_image`` said about these bytes, when the caller has it already.
    """
    header = header or probe_image(data, limits)
    with _decoding(header.format):
        if header.format == "png":
            try:
                check_png_stream(data)
            except PngStreamError as exc:
                raise UndecodableMedia(f"png image could not be decoded: {exc}") from exc
            return header
        with Image.open(io.BytesIO(data)) as img:
            if header.format == "jpeg":
                img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    return header


# ---- whole files, seen from their structure ----------------------------------------------------------

_PNG_DATA_CHUNKS = (b"IDAT", b"fdAT", b"DDAT")  # the image data run, as png_stream and Pillow read it
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length (TEM, RST0-7)


def _png_data_is_whole(data: bytes) -> bool:
    """Every chunk of the image data run is complete and another chunk follows it (IEND, usually)."""
    pos, in_data = 8, False
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind not in _PNG_DATA_CHUNKS and in_data:
            return True
        if pos + 12 + length > len(data):
            return False
        in_data = in_data or kind in _PNG_DATA_CHUNKS
        pos += 12 + length
    return False


def _jpeg_scan_is_whole(data: bytes) -> bool:
    """The segments up to the first scan are complete and an end-of-image marker follows the scan data
    (entropy-coded data never holds one: a 0xFF byte in it is stuffed or starts a restart marker)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan
            return data.rfind(b"\xff\xd9", end) != -1  # from the end: where the marker sits
        pos = end
    return False


def check_whole(data: bytes, header: ImageHeader, limits: MediaLimits | None = None) -> None:
    """400 unless the image decodes, told from its structure where that is enough, without decoding.

    For a caller that forwards the bytes to decoders and needs no pixels itself (the gateway). A PNG
    whose image data chunks are all there, and a JPEG whose scan ends in its end-of-image marker, pass
    without a pixel decoded: a truncated file fails these, and the few files that are whole yet corrupt
    inside are refused by the decoders downstream. Anything else (a file these do not settle, other
    formats) goes through ``verify_image``.
    """
    if header.format == "png" and _png_data_is_whole(data):
        return
    if header.format == "jpeg" and _jpeg_scan_is_whole(data):
        return
    verify_image(data, limits, header)


def decode_image(
    data: bytes, limits: MediaLimits | None = None, header: ImageHeader | None = None
) -> ImageInput:
    """Decode image bytes safely into RGB with EXIF orientation applied.

    Order matters: size cap, sniff (allow-list), header-only open to read the dimensions, pixel cap,
    then the full decode. Pillow's own bomb check is turned into an error, not a warning. ``header``:
    what ``probe_image`` said about these bytes, when the caller has it already (the checks up to the
    pixel cap are then not repeated).

    Memory: at most one full-resolution buffer survives, and a second exists only while an EXIF
    rotation or a conversion to RGB runs. An RGBA PNG is decoded straight to RGB (alpha dropped by the
    unpacker, which is what ``convert("RGB")`` does), an image already upright and RGB is not copied,
    and a rotation runs before the conversion, in the smaller mode. Pixels are kept at native resolution:
    the image detectors analyse crops of native pixels (detectors/common/views.py).
    """
    header = header or probe_image(data, limits)
    with _decoding(header.format):
        img = Image.open(io.BytesIO(data))
        try:
            if header.format == "png" and len(img.tile) == 1 and img.tile[0].args in _PNG_ALPHA_DROP:
                tile = img.tile[0]
                img.tile = [tile._replace(args=_PNG_ALPHA_DROP[str(tile.args)])]
                img._mode = "RGB"
            img.load()
            with warnings.catch_warnings():
                # Orientation is best effort: corrupt EXIF must not fail (or spam) the decode;
                # metadata readers report it where it matters.
                warnings.simplefilter("ignore", UserWarning)
                ImageOps.exif_transpose(img, in_place=True)
            # A plain Image sharing the decoded buffer (no copy), so the file object can go.
            pixels = img if img.mode == "RGB" else img.convert("RGB")
            rgb = pixels._new(pixels.im)
        finally:
            img.close()
    return ImageInput(image=rgb, raw=data, format=header.format, sha256=sha256_hex(data), header=header)
