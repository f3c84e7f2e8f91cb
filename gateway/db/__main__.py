"""``python -m gateway.db upgrade|current``: migrate the database named by the gateway settings by hand."""

from __future__ import annotations

import argparse
import sys

from gateway.db.engine import make_engine
from gateway.db.migrate import current_revision, upgrade
from gateway.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["upgrade", "current"])
    parser.add_argument("--url", help="database URL (default: TRIBUNAL_DATABASE_URL or SQLite in data_dir)")
    args = parser.parse_args(argv)
    try:
        url = args.url or load_settings().database_url_or_default
    except SettingsError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    engine = make_engine(url)
    try:
        if args.command == "upgrade":
            upgrade(engine)
        print(f"{engine.url.render_as_string(hide_password=True)}: at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
