"""Safe media handling: recognise a file by its bytes, then decode it within caps.

Everything a client uploads passes through here, in the detectors and in the gateway, so the rules
(format allow-list, byte cap, pixel cap, EXIF orientation) live in one place.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from tribunal_sdk.errors import MediaTooLarge, UndecodableMedia, UnsupportedMediaType

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
    """A decoded image ready for a detector: RGB pixels plus the untouched original bytes."""

    image: Image.Image  # RGB, EXIF orientation applied
    raw: bytes  # the file exactly as uploaded (metadata detectors read this)
    format: str  # sniffed format name, e.g. "jpeg"
    sha256: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
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


def decode_image(data: bytes, limits: MediaLimits | None = None) -> ImageInput:
    """Decode image bytes safely.

    Order matters: size cap, sniff (allow-list), header-only open to read the dimensions, pixel cap,
    then the full decode. Pillow's own bomb check is turned into an error, not a warning.
    """
    limits = limits or MediaLimits()
    limits.check_size(len(data))
    sniffed = sniff(data)
    if sniffed.media_type != "image":
        raise UnsupportedMediaType(f"expected an image, got a {sniffed.format} video")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
            if width * height > limits.max_pixels:
                raise MediaTooLarge(
                    f"image is {width}x{height} = {width * height / 1e6:.0f} MP; "
                    f"the limit is {limits.max_pixels / 1e6:.0f} MP",
                    code="too_many_pixels",
                )
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                with warnings.catch_warnings():
                    # Orientation is best effort: corrupt EXIF must not fail (or spam) the decode;
                    # metadata readers report it where it matters.
                    warnings.simplefilter("ignore", UserWarning)
                    oriented = ImageOps.exif_transpose(img)
                rgb = oriented.convert("RGB")
    except MediaTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLarge(f"image refused as a decompression bomb: {exc}", code="too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UndecodableMedia(f"{sniffed.format} image could not be decoded: {exc}") from exc
    return ImageInput(image=rgb, raw=data, format=sniffed.format, sha256=sha256_hex(data))
