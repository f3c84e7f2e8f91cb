"""The files of unfinished job items: ``<data_dir>/jobs/<job id>/<seq>``, one file per item.

Files are named by the item's number, never by anything a client sent, so no name in an upload or an
archive can place a file outside its job's folder. An item's file is deleted once the item is final;
folders left empty are removed at the next start (``sweep``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

JOBS_DIR = "jobs"
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class FileTooLarge(Exception):
    """The file grew past the cap while it was being written (it is removed again).

    Outside the TribunalError tree: intake turns it into the item's ``file_too_large`` error."""


class JobSpool:
    """The job folders under ``data_dir``."""

    def __init__(self, data_dir: Path):
        self.root = data_dir / JOBS_DIR

    def folder(self, job_id: str) -> Path:
        if not _JOB_ID.match(job_id):  # job ids are ours (uuid4 hex); anything else is a bug, not input
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id

    def path(self, job_id: str, seq: int) -> Path:
        return self.folder(job_id) / f"{seq:07d}"

    def write(self, job_id: str, seq: int, chunks: Iterable[bytes], max_bytes: int) -> int:
        """Write ``chunks`` as item ``seq``'s file; its size. FileTooLarge past ``max_bytes`` (the file is
        removed); anything the chunks raise is re-raised after removing the partial file."""
        path = self.path(job_id, seq)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(size)
                    handle.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return size

    def read(self, job_id: str, seq: int) -> bytes:
        return self.path(job_id, seq).read_bytes()

    def discard(self, job_id: str, seq: int) -> None:
        self.path(job_id, seq).unlink(missing_ok=True)

    def discard_many(self, job_id: str, seqs: Iterable[int]) -> None:
        for seq in seqs:
            self.discard(job_id, seq)

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def sweep(self, keep: set[str]) -> list[str]:
        """Remove every job folder except those of ``keep`` (jobs with items still to run); their ids."""
        if not self.root.is_dir():
            return []
        removed = []
        for entry in self.root.iterdir():
            if entry.name not in keep:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry.name)
        return removed
