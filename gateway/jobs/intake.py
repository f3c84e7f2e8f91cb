"""From an upload to job items: each file (or each member of one archive) spooled, or refused alone.

    drafts, name = take_uploads(spool, job_id, first_seq, uploads, limits)   # blocking: run in a thread

One upload that is a ZIP, TAR or TAR.GZ archive is unpacked (gateway/jobs/archives.py); otherwise every
upload is one item. A file that cannot become a useful item is kept as a failed item with its reason
(the request still succeeds): not an accepted image or video, empty, over the upload cap, an archive
inside the archive (or among several uploaded files), a link, a special or encrypted entry. What makes
the whole upload unusable raises a typed 4xx, after which the caller removes what was spooled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from gateway.jobs.archives import ArchiveLimits, Member, MemberUnreadable, archive_kind, members
from gateway.jobs.errors import NoFiles, TooManyFiles
from gateway.jobs.spool import FileTooLarge, JobSpool
from tribunal_sdk.errors import TribunalError
from tribunal_sdk.media import sniff

MAX_NAME = 512
_HEAD = 512  # enough for every magic number checked here (TAR's sits at byte 257)
_READ = 1024 * 1024


@dataclass(frozen=True)
class IntakeLimits:
    max_files: int
    max_file_bytes: int  # what /detect accepts (max_upload_mb)
    archive: ArchiveLimits


@dataclass
class ItemDraft:
    """An item about to be stored: spooled (``error_code`` None) or already failed at intake."""

    seq: int
    name: str
    size_bytes: int = 0
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the client's name for it and its bytes (a seekable file)."""

    name: str | None
    file: BinaryIO


def clean_label(name: str | None, fallback: str) -> str:
    """A client-given name as a label: printable characters, forward slashes, no leading slash, capped."""
    text = "".join(ch for ch in (name or "").replace("\\", "/") if ch.isprintable()).strip().lstrip("/")
    return text[-MAX_NAME:] if text else fallback


def _file_chunks(file: BinaryIO) -> Iterator[bytes]:
    file.seek(0)
    while chunk := file.read(_READ):
        yield chunk


def _head(chunks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """The first bytes of ``chunks`` (up to _HEAD, fewer only at the end) and all the chunks again."""
    taken: list[bytes] = []
    size = 0
    for chunk in chunks:
        taken.append(chunk)
        size += len(chunk)
        if size >= _HEAD:
            break
    head = b"".join(taken)

    def again() -> Iterator[bytes]:
        yield from taken
        yield from chunks

    return head[:_HEAD], again()


class _Items:
    """Numbers, spools and records the items of one request."""

    def __init__(self, spool: JobSpool, job_id: str, first_seq: int, limits: IntakeLimits):
        self.spool = spool
        self.job_id = job_id
        self.next_seq = first_seq
        self.limits = limits
        self.drafts: list[ItemDraft] = []

    def _draft(self, name: str | None) -> ItemDraft:
        if len(self.drafts) >= self.limits.max_files:
            raise TooManyFiles(
                f"more than {self.limits.max_files} files in one request (TRIBUNAL_JOBS_MAX_FILES); "
                "split them into several requests"
            )
        draft = ItemDraft(seq=self.next_seq, name=clean_label(name, f"file-{self.next_seq}"))
        self.next_seq += 1
        self.drafts.append(draft)
        return draft

    def refuse(self, name: str | None, code: str, detail: str) -> None:
        draft = self._draft(name)
        draft.error_code, draft.error = code, detail

    def add(self, name: str | None, chunks: Iterator[bytes], nested_code: str, nested_detail: str) -> None:
        draft = self._draft(name)
        try:
            head, chunks = _head(chunks)
        except MemberUnreadable as exc:
            draft.error_code, draft.error = (
                "unreadable_member",
                f"the archive member cannot be unpacked: {exc}",
            )
            return
        if archive_kind(head) is not None:
            draft.error_code, draft.error = nested_code, nested_detail
            return
        try:
            sniff(head)  # not an accepted image or video, or empty: fails here instead of in the queue
        except TribunalError as exc:
            draft.error_code, draft.error = exc.code, exc.detail
            return
        # Whatever the archive raises while unpacking (a bomb, a cap) refuses the whole upload: not caught.
        try:
            draft.size_bytes = self.spool.write(self.job_id, draft.seq, chunks, self.limits.max_file_bytes)
        except FileTooLarge:
            draft.error_code = "file_too_large"
            draft.error = (
                f"the file is over {self.limits.max_file_bytes / 2**20:g} MB, the most one detection "
                "accepts (TRIBUNAL_MAX_UPLOAD_MB)"
            )
        except MemberUnreadable as exc:
            draft.error_code, draft.error = (
                "unreadable_member",
                f"the archive member cannot be unpacked: {exc}",
            )


def take_uploads(
    spool: JobSpool, job_id: str, first_seq: int, uploads: Sequence[Upload], limits: IntakeLimits
) -> tuple[list[ItemDraft], str]:
    """Spool ``uploads`` as items numbered from ``first_seq``; the drafts and a name for the batch.
    When it raises, the files it spooled are removed again."""
    if not uploads:
        raise NoFiles(
            "the multipart body has no 'files' field; send images, videos or one archive as 'files'"
        )
    items = _Items(spool, job_id, first_seq, limits)
    try:
        return _take(items, uploads)
    except BaseException:
        spool.discard_many(job_id, [draft.seq for draft in items.drafts])
        raise


def _take(items: _Items, uploads: Sequence[Upload]) -> tuple[list[ItemDraft], str]:
    if len(uploads) == 1:
        upload = uploads[0]
        upload.file.seek(0)
        kind = archive_kind(upload.file.read(_HEAD))
        if kind is not None:
            for member in members(upload.file, kind, items.limits.archive):
                _take_member(items, member)
            if not items.drafts:
                raise NoFiles(f"the {kind.upper()} archive holds no files")
            return items.drafts, clean_label(upload.name, f"{kind} archive")
    for upload in uploads:
        items.add(
            upload.name,
            _file_chunks(upload.file),
            "archive_among_files",
            "an archive is unpacked only when it is the only file of the request; send it alone",
        )
    first = items.drafts[0].name
    return items.drafts, first if len(items.drafts) == 1 else f"{len(items.drafts)} files"


def _take_member(items: _Items, member: Member) -> None:
    if member.chunks is None:
        items.refuse(member.name, member.refusal_code or "unsupported_member", member.refusal or "")
        return
    items.add(
        member.name,
        member.chunks,
        "nested_archive",
        "an archive inside the archive is not unpacked; put its files in the outer archive",
    )
