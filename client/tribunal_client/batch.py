"""``tribunal batch DIR --out results.csv``: a folder's images and videos as one job, resumable.

The files of DIR (recursively, chosen by extension) are uploaded in parts (``--chunk-files`` files or
``--chunk-mb`` MB per request): the first part creates the job, the others are added to it. A small
state file beside the output (``<out>.tribunal-batch.json``: the gateway, the folder, the job id and
the files sent) is written after every part, so running the same command again after an interruption
(Ctrl-C, a lost connection, a gateway restart) continues the same job: files already in the job are
not sent again (the job's own item list is checked too, so a part whose answer was lost is not
repeated), and the progress is picked up where it was. Once every file has its row in the CSV, the
state file is removed.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from tribunal_client.client import TribunalClient
from tribunal_client.errors import NotFound, TribunalError
from tribunal_client.models import Job, JobResult

MEDIA_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".gif",
        ".mp4",
        ".mov",
        ".webm",
        ".avi",
        ".mkv",
    }
)
BATCH_COLUMNS = [
    "file",
    "state",
    "verdict",
    "score_fake",
    "predicted_source",
    "analysis_id",
    "error_code",
    "error",
]
STATE_SUFFIX = ".tribunal-batch.json"
_ITEMS_PAGE = 1000


class BatchError(Exception):
    """The batch cannot go on as asked (the message says what to do); nothing was lost."""


@dataclass
class BatchState:
    """What ``tribunal batch`` remembers between runs, kept beside the output file."""

    url: str
    folder: str
    job_id: str | None = None
    submitted: list[str] = field(default_factory=list)

    @staticmethod
    def path_for(out: Path) -> Path:
        return out.with_name(out.name + STATE_SUFFIX)

    @classmethod
    def load(cls, path: Path) -> BatchState | None:
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(data["url"], data["folder"], data.get("job_id"), list(data.get("submitted", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise BatchError(f"{path} is not a batch state file ({exc}); delete it to start afresh") from exc

    def save(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.__dict__, indent=1))
        temporary.replace(path)  # atomic: an interruption leaves the old state or the new, never half


def media_files(folder: Path) -> tuple[list[str], int]:
    """The images and videos under ``folder`` (by extension), as sorted relative POSIX paths, and how many
    other files were left out."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    names = sorted(p.relative_to(folder).as_posix() for p in files if p.suffix.lower() in MEDIA_EXTENSIONS)
    return names, len(files) - len(names)


def chunks(names: list[str], folder: Path, max_files: int, max_bytes: int) -> Iterator[list[str]]:
    """``names`` in upload order, cut into requests of at most ``max_files`` files and ``max_bytes``
    (a single larger file goes alone)."""
    part: list[str] = []
    size = 0
    for name in names:
        file_size = (folder / name).stat().st_size
        if part and (len(part) >= max_files or size + file_size > max_bytes):
            yield part
            part, size = [], 0
        part.append(name)
        size += file_size
    if part:
        yield part


@dataclass(frozen=True)
class BatchOptions:
    folder: Path
    out: Path
    ensemble_method: str | None = None
    models: str | None = None
    threshold: float | None = None
    chunk_files: int = 100
    chunk_bytes: int = 64 * 2**20
    poll_s: float = 1.0
    progress: bool = True


def _job_item_names(client: TribunalClient, job_id: str) -> set[str]:
    names: set[str] = set()
    page = 1
    while True:
        job = client.get_job(job_id, page=page, page_size=_ITEMS_PAGE)
        names.update(item.name for item in job.items)
        if page * _ITEMS_PAGE >= job.items_total:
            return names
        page += 1


def _resume(client: TribunalClient, options: BatchOptions, state_path: Path, err: TextIO) -> BatchState:
    folder = str(options.folder.resolve())
    state = BatchState.load(state_path)
    if state is not None and (state.folder != folder or state.url != client.url):
        raise BatchError(
            f"{state_path} belongs to a batch of {state.folder} on {state.url}; "
            "use another --out, or delete the state file to start afresh"
        )
    if state is None or state.job_id is None:
        return BatchState(client.url, folder)
    try:
        job = client.get_job(state.job_id, page_size=1)
    except NotFound:
        err.write(f"tribunal: job {state.job_id} is gone from the gateway; starting a new job\n")
        return BatchState(client.url, folder)
    if job.state == "cancelled":
        err.write(f"tribunal: job {state.job_id} was cancelled; starting a new job\n")
        return BatchState(client.url, folder)
    # A part whose answer was lost is in the job although the state file does not list it.
    state.submitted = sorted(set(state.submitted) | _job_item_names(client, state.job_id))
    err.write(f"tribunal: resuming job {state.job_id} ({len(state.submitted)} files already sent)\n")
    return state


def _upload(
    client: TribunalClient, options: BatchOptions, state: BatchState, state_path: Path, names: list[str]
) -> None:
    sent = set(state.submitted)
    remaining = [name for name in names if name not in sent]
    for part in chunks(remaining, options.folder, options.chunk_files, options.chunk_bytes):
        files = [(name, options.folder / name) for name in part]
        if state.job_id is None:
            job = client.submit_job(
                files,
                ensemble_method=options.ensemble_method,
                models=options.models,
                threshold=options.threshold,
            )
            state.job_id = job.id
        else:
            client.submit_job(files, add_to=state.job_id)
        state.submitted.extend(part)
        state.save(state_path)


def _wait(
    client: TribunalClient,
    job_id: str,
    total: int,
    options: BatchOptions,
    err: TextIO,
    sleep: Callable[[float], None],
) -> Job:
    with tqdm(total=total, unit="file", desc="analysing", file=err, disable=not options.progress) as bar:
        while True:
            job = client.get_job(job_id, page_size=1)
            bar.total = max(total, job.progress.total)
            bar.n = job.progress.finished
            bar.set_postfix(failed=job.progress.failed, refresh=False)
            bar.refresh()
            if job.progress.pending == 0:
                return job
            sleep(options.poll_s)


def _rows(names: list[str], results: list[JobResult]) -> list[dict[str, Any]]:
    # A name sent twice (only if a run was cut between a request and its state save) keeps its best row.
    rank = {"done": 0, "failed": 1, "cancelled": 2}
    by_name: dict[str, JobResult] = {}
    for result in results:
        kept = by_name.get(result.name)
        if kept is None or rank.get(result.state, 3) < rank.get(kept.state, 3):
            by_name[result.name] = result
    rows = []
    for name in names:
        result = by_name.get(name)
        if result is None:
            rows.append({"file": name, "state": "missing", "error": "not in the job's results"})
            continue
        rows.append({"file": name, **{col: getattr(result, col) for col in BATCH_COLUMNS if col != "file"}})
    return rows


def run_batch(
    client: TribunalClient, options: BatchOptions, err: TextIO, sleep: Callable[[float], None] = time.sleep
) -> list[dict[str, Any]]:
    """Upload, wait and write the CSV (see the module docstring); the rows written, one per file."""
    if not options.folder.is_dir():
        raise BatchError(f"no such folder: {options.folder}")
    names, others = media_files(options.folder)
    if not names:
        raise BatchError(
            f"no images or videos under {options.folder} (by extension: {', '.join(sorted(MEDIA_EXTENSIONS))})"
        )
    if others:
        err.write(
            f"tribunal: leaving out {others} file(s) under {options.folder} that are not images or videos "
            "by extension\n"
        )
    state_path = BatchState.path_for(options.out)
    state = _resume(client, options, state_path, err)
    try:
        _upload(client, options, state, state_path, names)
        assert state.job_id is not None
        job = _wait(client, state.job_id, len(names), options, err, sleep)
        rows = _rows(names, client.job_results(state.job_id))
    except (TribunalError, KeyboardInterrupt):
        if state.job_id is not None:
            err.write(f"tribunal: interrupted; run the same command again to continue job {state.job_id}\n")
        raise
    temporary = options.out.with_name(options.out.name + ".tmp")
    with temporary.open("w", newline="") as handle:
        _write_csv(rows, handle)
    temporary.replace(options.out)
    state_path.unlink(missing_ok=True)
    err.write(
        f"tribunal: job {job.id} {job.state}: {job.progress.done} done, {job.progress.failed} failed; "
        f"{len(rows)} rows in {options.out}\n"
    )
    return rows


def _write_csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=BATCH_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
