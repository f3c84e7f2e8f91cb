"""The ``tribunal`` command: detect files, run a folder as a batch job, list history, list models.

Exit codes (for scripts and CI):

- 0: everything was analysed (and, with ``--fail-on``, no verdict reached that level);
- 1: ``--fail-on fake``: some file's verdict is fake; ``--fail-on uncertain``: some verdict is uncertain
  or fake;
- 2: a usage or configuration error (bad option, unreadable config file, no such config file);
- 3: a request failed (the gateway refused or could not be reached, or a file could not be read), or
  with ``batch``, a file's analysis failed (its CSV row says why). Other files are still analysed and
  reported; 3 wins over 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tribunal_client import __version__
from tribunal_client.batch import BatchError, BatchOptions, run_batch
from tribunal_client.client import TribunalClient
from tribunal_client.errors import BadRequest, ConfigError, TribunalError
from tribunal_client.models import Detection, HistoryPage, Models

EXIT_OK, EXIT_FAIL_ON, EXIT_USAGE, EXIT_REQUEST = 0, 1, 2, 3
SEVERITY = {"real": 0, "uncertain": 1, "fake": 2}
DETECT_COLUMNS = [
    "file",
    "verdict",
    "score_fake",
    "confidence",
    "predicted_source",
    "method",
    "degraded",
    "missing",
    "id",
    "error",
]
HISTORY_COLUMNS = [
    "id",
    "created_at",
    "username",
    "filename",
    "media_type",
    "verdict",
    "score_fake",
    "predicted_source",
    "method",
    "degraded",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep its message format
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection (else TRIBUNAL_* environment, else the config file)")
    group.add_argument("--url", help="gateway base URL (TRIBUNAL_URL; default http://127.0.0.1:8000)")
    group.add_argument("--api-key", help="API key sent as X-API-Key (TRIBUNAL_API_KEY)")
    group.add_argument("--token", help="bearer access token (TRIBUNAL_TOKEN)")
    group.add_argument(
        "--config", help="TOML config file (TRIBUNAL_CONFIG; default ~/.config/tribunal/config.toml)"
    )
    group.add_argument("--retries", type=int, help="retries on 429/503/connection errors (default 3)")
    group.add_argument("--timeout", type=float, help="seconds per request (default 60)")
    return common


def _output_options(parser: argparse.ArgumentParser) -> None:
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="JSON output")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV output")
    parser.set_defaults(format="table")


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = _Parser(
        prog="tribunal", description="Ask a Tribunal gateway whether images and videos are AI-made."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    detect = commands.add_parser("detect", parents=[common], help="analyse one or more files")
    detect.add_argument("files", nargs="+", metavar="FILE", help="images or videos")
    detect.add_argument("--method", dest="ensemble_method", help="average, stacking or voting")
    detect.add_argument("--models", help="comma list of detector names (default: all)")
    detect.add_argument("--threshold", type=float, help="decision threshold in (0, 1)")
    detect.add_argument(
        "--fail-on",
        choices=["fake", "uncertain"],
        help="exit 1 when a verdict is at or above this level (uncertain includes fake)",
    )
    _output_options(detect)

    batch = commands.add_parser(
        "batch",
        parents=[common],
        help="analyse a folder's images and videos as one job, with a progress bar; resumable",
        description="Upload DIR's images and videos (recursively) as one job and write one CSV row per file. "
        "Interrupted? Run the same command again: it continues the same job (state in OUT.tribunal-batch.json).",
    )
    batch.add_argument("folder", metavar="DIR", help="folder of images and videos")
    batch.add_argument("--out", required=True, help="CSV file to write, one row per file")
    batch.add_argument("--method", dest="ensemble_method", help="average, stacking or voting")
    batch.add_argument("--models", help="comma list of detector names (default: all)")
    batch.add_argument("--threshold", type=float, help="decision threshold in (0, 1)")
    batch.add_argument("--chunk-files", type=int, default=100, help="files per upload request (default 100)")
    batch.add_argument("--chunk-mb", type=float, default=64, help="MB per upload request (default 64)")
    batch.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks (default 1)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument(
        "--fail-on",
        choices=["fake", "uncertain"],
        help="exit 1 when a verdict is at or above this level (uncertain includes fake)",
    )

    history = commands.add_parser("history", parents=[common], help="one page of past analyses")
    history.add_argument("--page", type=int, default=1)
    history.add_argument("--page-size", type=int, default=20)
    history.add_argument("--verdict", choices=["fake", "real", "uncertain"])
    history.add_argument("--media-type", choices=["image", "video"])
    history.add_argument("--since", help="ISO 8601 time (UTC if no offset)")
    history.add_argument("--until", help="ISO 8601 time, exclusive")
    history.add_argument("--user", dest="username", help="admins: one user's analyses")
    _output_options(history)

    models = commands.add_parser("models", parents=[common], help="registered detectors and their state")
    _output_options(models)
    return parser


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    cells = [[_fmt(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    out.write("  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _csv(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({col: ",".join(map(str, v)) if isinstance(v, list) else v for col, v in row.items()})


def _detection_row(file: str, answer: Detection) -> dict[str, Any]:
    return {
        "file": file,
        "verdict": answer.verdict,
        "score_fake": answer.score_fake,
        "confidence": answer.confidence,
        "predicted_source": answer.predicted_source,
        "method": answer.method,
        "degraded": answer.degraded,
        "missing": answer.missing,
        "id": answer.id,
        "error": None,
    }


def _error_text(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, BadRequest) and exc.problems:
        text += " (" + "; ".join(f"{p.get('field')}: {p.get('message')}" for p in exc.problems) + ")"
    return text


def _detect(client: TribunalClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    rows: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    failed = flagged = False
    for file in args.files:
        try:
            if not Path(file).is_file():
                raise FileNotFoundError(f"no such file: {file}")
            answer = client.detect(
                file, ensemble_method=args.ensemble_method, models=args.models, threshold=args.threshold
            )
        except (TribunalError, OSError) as exc:
            failed = True
            message = _error_text(exc)
            err.write(f"tribunal: {file}: {message}\n")
            rows.append({"file": file, "verdict": "ERROR", "error": message})
            error: dict[str, Any] = {"detail": message}
            if isinstance(exc, TribunalError):
                error = {"status": exc.status_code, "error": exc.code, "detail": exc.detail, **exc.body}
            documents.append({"file": file, "error": error})
            continue
        rows.append(_detection_row(file, answer))
        documents.append({"file": file, **answer.raw})
        if args.fail_on and SEVERITY[answer.verdict] >= SEVERITY[args.fail_on]:
            flagged = True
    if args.format == "json":
        json.dump(documents, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        _csv(rows, DETECT_COLUMNS, out)
    else:
        _table(rows, [c for c in DETECT_COLUMNS if c != "id"], out)
    if failed:
        return EXIT_REQUEST
    return EXIT_FAIL_ON if flagged else EXIT_OK


def _batch(client: TribunalClient, args: argparse.Namespace, err: TextIO) -> int:
    if args.chunk_files < 1 or args.chunk_mb <= 0:
        err.write("tribunal: --chunk-files and --chunk-mb must be positive\n")
        return EXIT_USAGE
    options = BatchOptions(
        folder=Path(args.folder),
        out=Path(args.out),
        ensemble_method=args.ensemble_method,
        models=args.models,
        threshold=args.threshold,
        chunk_files=args.chunk_files,
        chunk_bytes=int(args.chunk_mb * 2**20),
        poll_s=args.poll,
        progress=not args.no_progress,
    )
    try:
        rows = run_batch(client, options, err)
    except BatchError as exc:
        err.write(f"tribunal: {exc}\n")
        return EXIT_USAGE
    if any(row["state"] != "done" for row in rows):
        return EXIT_REQUEST
    if args.fail_on and any(SEVERITY.get(row["verdict"] or "", -1) >= SEVERITY[args.fail_on] for row in rows):
        return EXIT_FAIL_ON
    return EXIT_OK


def _history(client: TribunalClient, args: argparse.Namespace, out: TextIO) -> int:
    page: HistoryPage = client.history(
        page=args.page,
        page_size=args.page_size,
        verdict=args.verdict,
        media_type=args.media_type,
        since=args.since,
        until=args.until,
        username=args.username,
    )
    rows = [
        {col: getattr(item, col) for col in HISTORY_COLUMNS}
        | {"created_at": item.created_at.isoformat(timespec="seconds") if item.created_at else None}
        for item in page.items
    ]
    if args.format == "json":
        json.dump(
            {"items": rows, "total": page.total, "page": page.page, "page_size": page.page_size},
            out,
            indent=2,
        )
        out.write("\n")
    elif args.format == "csv":
        _csv(rows, HISTORY_COLUMNS, out)
    else:
        _table(rows, HISTORY_COLUMNS, out)
        out.write(f"page {page.page} of {page.pages} ({page.total} analyses)\n")
    return EXIT_OK


def _models(client: TribunalClient, args: argparse.Namespace, out: TextIO) -> int:
    models: Models = client.models()
    columns = ["name", "enabled", "ready", "media_types", "version", "reason"]
    rows = [{col: getattr(m, col) for col in columns} for m in models.detectors]
    if args.format == "json":
        json.dump(models.raw, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        _csv(rows, columns, out)
    else:
        _table(rows, columns, out)
        out.write(
            f"methods: {', '.join(models.ensemble_methods)} (default {models.default_method}); "
            f"threshold {models.threshold}\n"
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    try:
        client = TribunalClient(
            args.url,
            api_key=args.api_key,
            token=args.token,
            retries=args.retries,
            timeout=args.timeout,
            config_path=args.config,
        )
    except ConfigError as exc:
        err.write(f"tribunal: {exc}\n")
        return EXIT_USAGE
    try:
        with client:
            if args.command == "detect":
                return _detect(client, args, out, err)
            if args.command == "batch":
                return _batch(client, args, err)
            if args.command == "history":
                return _history(client, args, out)
            return _models(client, args, out)
    except TribunalError as exc:
        err.write(f"tribunal: {_error_text(exc)}\n")
        return EXIT_REQUEST


if __name__ == "__main__":
    sys.exit(main())
