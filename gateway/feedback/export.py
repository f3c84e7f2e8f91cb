"""The corrected images as a labelled corpus: a ZIP that ``make benchmark CORPUS=`` imports once unpacked.

    tribunal_feedback/manifest.csv   one row per image, the shared corpus's columns (benchmark/corpus.py)
    tribunal_feedback/images/        the kept uploads, named by sha256
    tribunal_feedback/skipped.csv    feedback that could not be exported, and why
    tribunal_feedback/README.txt     what it holds and how to import it

The folder name is the same on every export, so the corpus name the importer derives from it (and so
each source, ``<corpus>:<account>``) stays the same from one export to the next; an export holds all the
feedback so far, so unpack each one over the last.

An image is one row however often it was analysed: analyses of the same bytes (sha256) are grouped,
and the newest feedback on any of them gives the label. Left out, each listed in skipped.csv: videos
(the benchmark corpus holds images), images whose feedback disagrees (one user says real, another AI),
and images whose upload was not kept (``keep_uploads`` was off, or the file was deleted since).
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from gateway.db.models import Analysis, Feedback
from gateway.history.uploads import upload_path
from tribunal_sdk.corpus_format import CORPUS_MANIFEST_COLUMNS
from tribunal_sdk.taxonomy import REAL, UNKNOWN_AI

log = logging.getLogger("gateway.feedback")

FOLDER = "tribunal_feedback"
SKIPPED_COLUMNS = ("analysis_id", "sha256", "filename", "media_type", "reason")


@dataclass(frozen=True)
class Skipped:
    analysis_id: str
    sha256: str
    filename: str | None
    media_type: str
    reason: str


@dataclass
class ExportSummary:
    exported: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)


def _groups(session: Session) -> dict[str, list[Feedback]]:
    """All feedback, grouped by the sha256 of the analysed bytes, newest first in each group."""
    rows = session.scalars(
        select(Feedback)
        .options(joinedload(Feedback.analysis), joinedload(Feedback.user))
        .order_by(Feedback.updated_at.desc(), Feedback.id.desc())
    )
    groups: dict[str, list[Feedback]] = {}
    for row in rows:
        groups.setdefault(row.analysis.sha256, []).append(row)
    return groups


def _kept_file(data_dir: Path, analyses: Iterable[Analysis]) -> tuple[Analysis, Path] | None:
    for analysis in analyses:
        path = upload_path(data_dir, analysis.stored_path) if analysis.stored_path else None
        if path is not None:
            return analysis, path
    return None


def _skip(row: Feedback, reason: str) -> Skipped:
    a = row.analysis
    return Skipped(a.id, a.sha256, a.filename, a.media_type, reason)


def _conflict(group: list[Feedback]) -> str | None:
    labels = {row.label for row in group}
    if len(labels) < 2:
        return None
    says = sorted({f"{row.user.username}: {row.label}" for row in group})
    return "conflicting feedback (" + ", ".join(says) + "); agree on one label to export it"


def _evidence(row: Feedback) -> str:
    a = row.analysis
    score = "n/a" if a.score_fake is None else f"{a.score_fake:.3f}"
    text = (
        f"Tribunal feedback by {row.user.username} on {row.updated_at:%Y-%m-%d}: "
        f"verdict was {a.verdict} (score_fake {score}, analysis {a.id})"
    )
    return text + (f"; note: {row.note}" if row.note else "")


def _manifest_row(row: Feedback, member: str, path: Path, source: str) -> dict[str, str]:
    a = row.analysis
    if row.label == "ai":
        label, generator = "ai", row.generator or UNKNOWN_AI
    else:
        label, generator = "real", REAL
    return {
        "path": member,
        "label": label,
        "generator": generator,
        "generator_detail": "as given in Tribunal feedback",
        "source_repo": source,
        "source_path": a.filename or "",
        "license": "",
        "evidence": _evidence(row),
        "orig_format": path.suffix.lstrip(".").upper(),
        "orig_width": "",
        "orig_height": "",
        "orig_bytes": str(path.stat().st_size),
        "had_generator_metadata": "",
        "sha256": a.sha256,
        "phash": "",
    }


def _csv(columns: tuple[str, ...], rows: Iterable[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _readme(summary: ExportSummary) -> str:
    sources = ", ".join(f"{name} ({count})" for name, count in sorted(summary.sources.items())) or "none"
    return (
        "Tribunal feedback export: images users corrected, labelled by their feedback.\n\n"
        f"Images: {summary.exported}. Sources (images): {sources}.\n"
        f"Skipped: {len(summary.skipped)}, each with its reason in skipped.csv.\n\n"
        "Import it into the benchmark (from the repository root), with the shared corpus so every fold\n"
        "has enough sources:\n\n"
        f"    make benchmark CORPUS=../shared/corpus/manifest.csv,path/to/{FOLDER}/manifest.csv\n\n"
        "then `make train-detector NAME=<detector>` and `make retrain`. See docs/feedback.md.\n"
    )


def write_export(session: Session, data_dir: Path, target: Path, source: str | None = None) -> ExportSummary:
    """Write the ZIP to ``target``. ``source`` names every row's source; by default, who gave the feedback."""
    summary = ExportSummary()
    manifest: list[dict[str, str]] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for sha256, group in _groups(session).items():
            newest = group[0]
            if newest.analysis.media_type != "image":
                summary.skipped.append(_skip(newest, "a video: the benchmark corpus holds images only"))
                continue
            conflict = _conflict(group)
            if conflict:
                summary.skipped.append(_skip(newest, conflict))
                continue
            kept = _kept_file(data_dir, (row.analysis for row in group))
            if kept is None:
                summary.skipped.append(
                    _skip(newest, "the upload was not kept (keep_uploads was off, or the file was deleted)")
                )
                continue
            _, path = kept
            member = f"images/{sha256}{path.suffix}"
            # Stored, not deflated: images are compressed already.
            archive.write(path, f"{FOLDER}/{member}", compress_type=zipfile.ZIP_STORED)
            name = source or newest.user.username
            manifest.append(_manifest_row(newest, member, path, name))
            summary.sources[name] = summary.sources.get(name, 0) + 1
        summary.exported = len(manifest)
        archive.writestr(f"{FOLDER}/manifest.csv", _csv(CORPUS_MANIFEST_COLUMNS, manifest))
        skipped = ({k: str(v or "") for k, v in vars(s).items()} for s in summary.skipped)
        archive.writestr(f"{FOLDER}/skipped.csv", _csv(SKIPPED_COLUMNS, skipped))
        archive.writestr(f"{FOLDER}/README.txt", _readme(summary))
    log.info(
        "feedback exported",
        extra={
            "fields": {
                "exported": summary.exported,
                "skipped": len(summary.skipped),
                "sources": summary.sources,
            }
        },
    )
    return summary
