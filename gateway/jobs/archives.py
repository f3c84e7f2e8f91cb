"""Reading ZIP, TAR and TAR.GZ archives as hostile input: members one at a time, every cap checked as
the bytes are unpacked.

    kind = archive_kind(head)                       # "zip", "tar", "tar.gz" or None, from magic numbers
    for member in members(fileobj, kind, limits):   # typed 4xx for an archive refused as a whole
        if member.refusal: ...                      # a link, a device, an encrypted entry: one item's error
        else: consume(member.chunks)                # the member's unpacked bytes, metered

Refused whole (a TribunalError from gateway/jobs/errors.py): an unreadable archive (400), a member path
that is absolute or climbs out with ``..`` (400), more members than ``max_members`` (413), more unpacked
bytes than ``max_unpacked_bytes`` (413) or a member that grows more than ``max_ratio`` times its
compressed size (413). Sizes are counted on the bytes actually unpacked, never read from headers; a
ZIP's central directory is bounded before it is parsed, so a directory of millions of entries is
refused without building them in memory. Member names are labels only: nothing here writes a file,
and the spool (gateway/jobs/spool.py) names files by number.
"""

from __future__ import annotations

import gzip
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from gateway.jobs.errors import (
    ArchiveError,
    ArchiveTooLarge,
    CompressionRatioExceeded,
    TooManyFiles,
    UnsafeArchivePath,
)

CHUNK = 1024 * 1024
# Below this many unpacked bytes a member's ratio is not judged: tiny members compress absurdly well
# (a blank thumbnail) and cannot hurt.
RATIO_FLOOR = 1024 * 1024
# A central-directory entry is at least 46 bytes plus its name; with names and extras, 1 KiB per member
# on average is generous for any real archive.
_DIRECTORY_BYTES_PER_MEMBER = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# Files that archivers add beside the real ones (macOS resource forks, Finder state): not analysed, not
# reported.
_CLUTTER_DIRS = {"__MACOSX"}
_CLUTTER_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
_LINK = "a link (symbolic or hard); only regular files are analysed"
_SPECIAL = "not a regular file (a device, pipe or other special entry); only regular files are analysed"


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_unpacked_bytes: int
    max_ratio: float


class MemberUnreadable(Exception):
    """One ZIP member's data cannot be unpacked (corrupt, bad CRC, unsupported compression): its item
    fails, the rest of the archive is still read. (A TAR stream cannot skip a bad member: ArchiveError.)

    Outside the TribunalError tree: intake turns it into the item's ``unreadable_member`` error."""


@dataclass
class Member:
    """One archive entry to become a job item: its bytes as ``chunks``, or why it is refused."""

    name: str
    chunks: Iterator[bytes] | None = None
    refusal_code: str | None = None
    refusal: str | None = None


def archive_kind(head: bytes) -> str | None:
    """The archive format the first bytes (at least 262 of them for TAR) announce, else None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def member_name(raw: str) -> str | None:
    """The member's path as a label; None for clutter to skip. UnsafeArchivePath for an absolute path or
    one with a ``..`` part (refused rather than cleaned: no honest archive has one)."""
    path = raw.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise UnsafeArchivePath(
            f"archive member {raw!r} has an absolute path; archives must hold relative paths only"
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchivePath(
            f"archive member {raw!r} climbs out of the archive with '..'; refusing the whole archive"
        )
    if not parts or parts[0] in _CLUTTER_DIRS or parts[-1] in _CLUTTER_FILES or parts[-1].startswith("._"):
        return None
    return str(PurePosixPath(*parts))


class _Meter:
    """The unpacked-byte budget of one archive, shared by its members."""

    def __init__(self, limits: ArchiveLimits):
        self.limits = limits
        self.total = 0

    def count(self, name: str, size: int) -> None:
        self.total += size
        if self.total > self.limits.max_unpacked_bytes:
            raise ArchiveTooLarge(
                f"the archive unpacks to more than {self.limits.max_unpacked_bytes / 2**20:.0f} MB "
                f"(reached at member {name!r}); split it, or raise TRIBUNAL_JOBS_MAX_UNPACKED_MB"
            )

    def check_ratio(self, name: str, unpacked: int, packed: int) -> None:
        if unpacked > RATIO_FLOOR and unpacked > self.limits.max_ratio * max(packed, 1):
            raise CompressionRatioExceeded(
                f"{name!r} unpacks to more than {self.limits.max_ratio:g} times its compressed size "
                f"({packed} bytes): refused as a decompression bomb (TRIBUNAL_JOBS_MAX_COMPRESSION_RATIO)"
            )


def _too_many(count: int, limit: int) -> TooManyFiles:
    return TooManyFiles(
        f"the archive holds {count}+ members; at most {limit} per job "
        "(TRIBUNAL_JOBS_MAX_FILES); split it into several jobs"
    )


def members(fileobj: BinaryIO, kind: str, limits: ArchiveLimits) -> Iterator[Member]:
    """The archive's members in order. Each member's ``chunks`` must be consumed (or dropped) before the
    next member is asked for."""
    if kind == "zip":
        yield from _zip_members(fileobj, limits)
    elif kind in ("tar", "tar.gz"):
        yield from _tar_members(fileobj, kind, limits)
    else:
        raise ArchiveError(f"unknown archive kind {kind!r}")


# ---- ZIP ------------------------------------------------------------------------------------------


def _zip_directory(fileobj: BinaryIO) -> tuple[int, int]:
    """(entries, central directory bytes) as the end-of-central-directory record (or its ZIP64 form)
    declares them: what ``zipfile`` would go on to parse."""
    fileobj.seek(0, 2)
    size = fileobj.tell()
    tail_start = max(0, size - (65536 + 22))
    fileobj.seek(tail_start)
    tail = fileobj.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ArchiveError("not a readable ZIP archive: no end-of-central-directory record")
    _, _, _, _, entries, directory_size, _, _ = struct.unpack("<4s4H2LH", tail[at : at + 22])
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] == b"PK\x06\x07":
            (offset,) = struct.unpack("<Q", locator[8:16])
            fileobj.seek(offset)
            record = fileobj.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                entries, directory_size = struct.unpack("<QQ", record[32:48])
    return entries, directory_size


def _zip_members(fileobj: BinaryIO, limits: ArchiveLimits) -> Iterator[Member]:
    entries, directory_size = _zip_directory(fileobj)
    if entries > limits.max_members or directory_size > limits.max_members * _DIRECTORY_BYTES_PER_MEMBER:
        raise _too_many(max(entries, limits.max_members + 1), limits.max_members)
    fileobj.seek(0)
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ArchiveError(f"not a readable ZIP archive: {exc}") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise _too_many(len(infos), limits.max_members)
        meter = _Meter(limits)
        for info in infos:
            name = member_name(info.filename)
            if name is None or info.is_dir():
                continue
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                yield Member(name, refusal_code="unsupported_member", refusal=_LINK)
            elif kind not in (0, stat.S_IFREG):
                yield Member(name, refusal_code="unsupported_member", refusal=_SPECIAL)
            elif info.flag_bits & 0x1:
                yield Member(
                    name,
                    refusal_code="encrypted_member",
                    refusal="the member is encrypted; send the archive without a password",
                )
            else:
                yield Member(name, chunks=_zip_chunks(archive, info, name, meter))


def _zip_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, meter: _Meter) -> Iterator[bytes]:
    unpacked = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                unpacked += len(chunk)
                meter.count(name, len(chunk))
                meter.check_ratio(name, unpacked, info.compress_size)
                yield chunk
    except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, OSError) as exc:
        raise MemberUnreadable(str(exc)) from exc


# ---- TAR ------------------------------------------------------------------------------------------


class _MeteredStream:
    """A read-only stream over the unpacked TAR bytes that counts them against the archive's caps."""

    def __init__(self, raw: BinaryIO, meter: _Meter, packed_size: int):
        self.raw = raw
        self.meter = meter
        self.packed_size = packed_size
        self.unpacked = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size is not None and size >= 0 else CHUNK)
        self.unpacked += len(data)
        self.meter.count("(the archive stream)", len(data))
        self.meter.check_ratio("the archive", self.unpacked, self.packed_size)
        return data


def _tar_members(fileobj: BinaryIO, kind: str, limits: ArchiveLimits) -> Iterator[Member]:
    fileobj.seek(0, 2)
    packed_size = fileobj.tell()
    fileobj.seek(0)
    meter = _Meter(limits)
    raw: BinaryIO = gzip.GzipFile(fileobj=fileobj, mode="rb") if kind == "tar.gz" else fileobj  # type: ignore[assignment]
    stream = _MeteredStream(raw, meter, packed_size if kind == "tar.gz" else 2**62)
    seen = 0
    try:
        # "r|": a forward-only stream, so every byte passes the meter and nothing seeks by header sizes.
        with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
            for info in archive:
                seen += 1
                if seen > limits.max_members:
                    raise _too_many(seen, limits.max_members)
                name = member_name(info.name)
                if name is None or info.isdir():
                    continue
                if info.issym() or info.islnk():
                    yield Member(name, refusal_code="unsupported_member", refusal=_LINK)
                elif not info.isreg():
                    yield Member(name, refusal_code="unsupported_member", refusal=_SPECIAL)
                else:
                    handle = archive.extractfile(info)
                    yield Member(name, chunks=_tar_chunks(handle, kind) if handle is not None else iter(()))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"not a readable {kind.upper()} archive: {exc}") from exc


def _tar_chunks(handle: BinaryIO, kind: str) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"not a readable {kind.upper()} archive: {exc}") from exc
