"""Find the metadata blocks inside an image container, without decoding any pixels.

PNG, JPEG and WebP are walked chunk by chunk here (Pillow only keeps what precedes the pixel data
and hides which chunk a value came from); TIFF and GIF go through Pillow. The walkers tolerate
truncation and garbage: they stop and report a warning instead of raising.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_XMP_PNG_KEY = "XML:com.adobe.xmp"
_JPEG_EXIF = b"Exif\x00\x00"
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
# A compressed text chunk may not inflate past this, whatever it claims (zip-bomb guard); ComfyUI
# workflows, the largest legitimate text chunks, are a few hundred kB.
MAX_TEXT_BYTES = 4 * 1024 * 1024
# Stop walking after this many chunks: real files have a handful, adversarial ones millions.
MAX_CHUNKS = 10_000


@dataclass(frozen=True)
class TextChunk:
    """One keyword/text pair: a PNG tEXt/zTXt/iTXt chunk or a JPEG comment."""

    chunk: str  # tEXt, zTXt, iTXt, COM
    key: str
    text: str


@dataclass
class MetadataBlocks:
    """The raw metadata a container holds, ready for the EXIF/XMP/text readers."""

    text: list[TextChunk] = field(default_factory=list)
    exif: list[bytes] = field(default_factory=list)  # TIFF-structured EXIF, "Exif\0\0" prefix optional
    xmp: list[bytes] = field(default_factory=list)  # XMP packets as stored
    warnings: list[str] = field(default_factory=list)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"inflates past {MAX_TEXT_BYTES // (1024 * 1024)} MB")
    return out


def _png_text(kind: bytes, data: bytes) -> TextChunk:
    key_bytes, sep, rest = data.partition(b"\x00")
    if not sep:
        raise ValueError("no keyword separator")
    key = key_bytes.decode("latin-1")
    if kind == b"tEXt":
        return TextChunk("tEXt", key, rest.decode("latin-1"))
    if kind == b"zTXt":
        return TextChunk("zTXt", key, _inflate(rest[1:]).decode("latin-1"))
    # iTXt: compression flag, method, language tag \0, translated keyword \0, UTF-8 text.
    if len(rest) < 2:
        raise ValueError("truncated iTXt header")
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        text = _inflate(text)
    return TextChunk("iTXt", key, text.decode("utf-8", errors="replace"))


def _walk_png(raw: bytes, blocks: MetadataBlocks) -> None:
    pos = len(PNG_SIGNATURE)
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(raw):
            return
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        data = raw[pos + 8 : pos + 8 + length]
        if len(data) < length:
            blocks.warnings.append(f"png: chunk {kind!r} is truncated; later metadata not read")
            return
        pos += 12 + length  # length, type, data, CRC
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                chunk = _png_text(kind, data)
            except (ValueError, zlib.error) as exc:
                blocks.warnings.append(f"png: unreadable {kind.decode('latin-1')} chunk ({exc})")
                continue
            if chunk.key == _XMP_PNG_KEY:
                blocks.xmp.append(chunk.text.encode("utf-8"))
            else:
                blocks.text.append(chunk)
        elif kind == b"eXIf":
            blocks.exif.append(data)
        elif kind == b"IEND":
            return


def _walk_jpeg(raw: bytes, blocks: MetadataBlocks) -> None:
    pos = 2  # after SOI
    for _ in range(MAX_CHUNKS):
        # Markers may be preceded by any number of 0xFF fill bytes.
        while pos < len(raw) and raw[pos] == 0xFF:
            pos += 1
        if pos >= len(raw):
            return
        marker = raw[pos]
        pos += 1
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            continue  # standalone markers carry no length
        if marker in (0xDA, 0xD9):
            return  # start of scan / end of image: metadata segments come before the pixels
        if pos + 2 > len(raw):
            return
        (length,) = struct.unpack(">H", raw[pos : pos + 2])
        payload = raw[pos + 2 : pos + length]
        if length < 2 or len(payload) < length - 2:
            blocks.warnings.append(f"jpeg: segment 0x{marker:02X} is truncated; later metadata not read")
            return
        pos += length
        if marker == 0xE1 and payload.startswith(_JPEG_EXIF):
            blocks.exif.append(payload[len(_JPEG_EXIF) :])
        elif marker == 0xE1 and payload.startswith(_JPEG_XMP):
            blocks.xmp.append(payload[len(_JPEG_XMP) :])
        elif marker == 0xFE:
            blocks.text.append(TextChunk("COM", "comment", payload.decode("utf-8", errors="replace")))


def _walk_webp(raw: bytes, blocks: MetadataBlocks) -> None:
    pos = 12  # after "RIFF", size, "WEBP"
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(raw):
            return
        fourcc, length = struct.unpack("<4sI", raw[pos : pos + 8])
        data = raw[pos + 8 : pos + 8 + length]
        if len(data) < length:
            blocks.warnings.append(f"webp: chunk {fourcc!r} is truncated; later metadata not read")
            return
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
        if fourcc == b"EXIF":
            blocks.exif.append(data)
        elif fourcc == b"XMP ":
            blocks.xmp.append(data)


def _via_pillow(raw: bytes, blocks: MetadataBlocks) -> None:
    # TIFF keeps EXIF-style tags (Software, Make, Model) in its own first IFD and XMP in tag 700.
    with Image.open(io.BytesIO(raw)) as img:
        if img.format == "TIFF":
            blocks.exif.append(raw)
            xmp = img.getexif().get(700)
            if isinstance(xmp, bytes | str):
                blocks.xmp.append(xmp.encode("utf-8") if isinstance(xmp, str) else xmp)
        else:
            exif = img.info.get("exif")
            if isinstance(exif, bytes):
                blocks.exif.append(exif)
            xmp = img.info.get("xmp")
            if isinstance(xmp, bytes):
                blocks.xmp.append(xmp)


def extract_blocks(raw: bytes, fmt: str) -> MetadataBlocks:
    """The EXIF, XMP and text metadata in ``raw`` (a ``fmt`` file as sniffed by the SDK)."""
    blocks = MetadataBlocks()
    if fmt == "png" and raw.startswith(PNG_SIGNATURE):
        _walk_png(raw, blocks)
    elif fmt == "jpeg" and raw.startswith(b"\xff\xd8"):
        _walk_jpeg(raw, blocks)
    elif fmt == "webp" and raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        _walk_webp(raw, blocks)
    elif fmt in ("tiff", "gif"):
        _via_pillow(raw, blocks)
    return blocks
