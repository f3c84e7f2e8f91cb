"""Checking that a PNG decodes, without holding its pixels.

A PNG's pixels are one zlib stream of scanlines, each led by a filter-type byte. Inflating that stream
in small pieces and checking its length and filter bytes finds what makes Pillow's decoder fail
(truncated or corrupt data, an unknown filter) with a few MiB of memory, where a full decode of a
40 MP PNG holds 160 MB. The rules follow Pillow's PNG reader so the two accept the same files: the
image data is the run of consecutive ``IDAT`` chunks (``fdAT``/``DDAT`` continue it, as in Pillow),
bytes past the last scanline are ignored, and chunk CRCs are not checked (Pillow skips them too).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel by colour type (PNG spec, table 11.1).
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_DATA_CHUNKS = (b"IDAT", b"fdAT", b"DDAT")
# Inflate at most this much at a time: the memory the check needs.
_PIECE = 1 << 20


class PngStreamError(ValueError):
    """The PNG would not decode; the message says why.

    Outside the TribunalError tree: media.py turns it into ``UndecodableMedia``."""


def _scanline_runs(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> list[tuple[int, int]]:
    """(number of scanlines, bytes per scanline including the filter byte), in stream order."""

    def stride(w: int) -> int:
        return 1 + (w * bits_per_pixel + 7) // 8

    if not interlaced:
        return [(height, stride(width))]
    runs = []
    for x0, y0, dx, dy in _ADAM7:
        w = (width - x0 + dx - 1) // dx if width > x0 else 0
        h = (height - y0 + dy - 1) // dy if height > y0 else 0
        if w and h:  # an empty pass has no scanlines at all, not even filter bytes
            runs.append((h, stride(w)))
    return runs


def _image_data(data: bytes) -> tuple[bytes, list[memoryview]]:
    """The IHDR payload and the pieces of the image data stream (views into ``data``, no copies)."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngStreamError("not a PNG signature")
    view = memoryview(data)
    pos = len(PNG_SIGNATURE)
    ihdr: bytes | None = None
    pieces: list[memoryview] = []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body_start = pos + 8
        body = view[body_start : body_start + length]  # short when the file is truncated
        if kind == b"IHDR":
            ihdr = bytes(body)
        elif kind in _DATA_CHUNKS:
            pieces.append(body[4:] if kind == b"fdAT" else body)
        elif pieces:
            break  # the image data ended: Pillow stops reading it at the first other chunk
        elif kind == b"IEND":
            break
        pos = body_start + length + 4  # + CRC
    if ihdr is None or len(ihdr) < 13:
        raise PngStreamError("no IHDR chunk")
    if not pieces:
        raise PngStreamError("no image data (IDAT)")
    return ihdr, pieces


def check_png_stream(data: bytes) -> tuple[int, int]:
    """Inflate the image data piece by piece and check every scanline is there with a valid filter.

    Returns (width, height). Raises PngStreamError when the file would not decode. Holds about 1 MiB.
    """
    ihdr, pieces = _image_data(data)
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", ihdr[:13])
    if colour not in _CHANNELS:
        raise PngStreamError(f"unknown colour type {colour}")
    runs = _scanline_runs(width, height, _CHANNELS[colour] * depth, interlace == 1)
    expected = sum(n * stride for n, stride in runs)

    # Offsets of every filter byte are given by the runs; walk them alongside the inflated stream.
    run_index, row_in_run, next_filter = 0, 0, 0  # next_filter: stream offset of the next filter byte
    produced = 0
    inflater = zlib.decompressobj()

    def check(chunk: bytes) -> None:
        nonlocal run_index, row_in_run, next_filter
        end = produced + len(chunk)
        while run_index < len(runs) and next_filter < end:
            n_rows, stride = runs[run_index]
            rows_left = n_rows - row_in_run
            # Filter bytes of this run inside the chunk: next_filter, next_filter + stride, ...
            last = min(rows_left, (end - 1 - next_filter) // stride + 1)
            offsets = next_filter - produced + stride * np.arange(last)
            filters = np.frombuffer(chunk, dtype=np.uint8)[offsets]
            if filters.size and int(filters.max()) > 4:
                raise PngStreamError(f"unknown scanline filter type {int(filters.max())}")
            row_in_run += last
            next_filter += stride * last
            if row_in_run == n_rows:
                run_index, row_in_run = run_index + 1, 0

    try:
        for piece in pieces:
            pending = piece
            while pending and produced < expected:
                chunk = inflater.decompress(pending, min(_PIECE, expected - produced))
                pending = inflater.unconsumed_tail
                check(chunk)
                produced += len(chunk)
                if inflater.eof:
                    break
            if produced >= expected or inflater.eof:
                break
        while produced < expected and not inflater.eof:  # output still buffered inside zlib
            chunk = inflater.decompress(b"", min(_PIECE, expected - produced))
            if not chunk:
                break
            check(chunk)
            produced += len(chunk)
    except zlib.error as exc:
        raise PngStreamError(f"corrupt image data: {exc}") from exc
    if produced < expected:
        raise PngStreamError(
            f"image data is truncated: {produced} of {expected} bytes of scanlines "
            f"({100 * produced / max(1, expected):.0f} %)"
        )
    return width, height
