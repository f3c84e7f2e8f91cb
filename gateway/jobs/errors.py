"""Errors of the jobs API: typed, each with its status, a stable code and a sentence saying what to fix.

Whole-request refusals (the archive as a whole is unsafe or too big, nothing to analyse) are raised from
POST /jobs. Problems with one file only (a symlink in an archive, a nested archive, a file over the
upload cap) never fail the request: they become that item's ``error_code`` and ``error``.
"""

from __future__ import annotations

from gateway.errors import GatewayError, MalformedRequest, TribunalError


class ArchiveError(TribunalError):
    """The archive cannot be read: corrupt, truncated, or not the format its first bytes claim."""

    status_code = 400
    code = "bad_archive"


class UnsafeArchivePath(TribunalError):
    """A member's path is absolute or climbs out of the archive (``..``): the archive is refused whole."""

    status_code = 400
    code = "unsafe_archive_path"


class ArchiveTooLarge(TribunalError):
    """Unpacking would exceed ``jobs_max_unpacked_mb`` (counted while unpacking, not read from headers)."""

    status_code = 413
    code = "archive_too_large"


class CompressionRatioExceeded(TribunalError):
    """A member grows more than ``jobs_max_compression_ratio`` times its compressed size: a zip bomb."""

    status_code = 413
    code = "compression_ratio_exceeded"


class TooManyFiles(TribunalError):
    """More files (or archive members) than ``jobs_max_files`` in one request."""

    status_code = 413
    code = "too_many_files"


class NoFiles(MalformedRequest):
    """The request holds nothing to analyse."""

    code = "no_files"


class JobFinished(GatewayError):
    """Files were sent to a job that was cancelled; it takes no more."""

    status_code = 409
    code = "job_cancelled"
