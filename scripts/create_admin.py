"""``make admin``: create an administrator account, or promote an existing account to admin.

    python -m scripts.create_admin                         # asks for the username and password
    python -m scripts.create_admin --username alice        # asks for the password (twice)
    python -m scripts.create_admin --username alice --password-stdin < secret.txt   # for scripts

Works on the database the gateway settings name (TRIBUNAL_DATABASE_URL, else SQLite in data_dir),
migrating it first, so it can run before the gateway ever started.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from pydantic import ValidationError

from gateway.auth import accounts
from gateway.auth.schemas import RegisterRequest
from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.settings import SettingsError, load_settings


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--username", help="the account to create or promote")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (one line)"
    )
    parser.add_argument("--database-url", help="default: the gateway settings")
    args = parser.parse_args(argv)

    try:
        url = args.database_url or load_settings().database_url_or_default
    except SettingsError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    username = args.username or input("username: ")
    db = Database(url)
    try:
        upgrade(db.engine)
        with db.session() as session:
            user = accounts.find_user(session, username)
            if user is not None:
                user.role = "admin"
                print(f"{user.username} is now an admin")
                return 0
        password = _read_password(args.password_stdin)
        try:
            checked = RegisterRequest(username=username, password=password)
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            print(f"cannot create {username!r}: {problems}", file=sys.stderr)
            return 1
        with db.session() as session:
            user = accounts.register(session, checked.username, checked.password, role="admin")
            print(f"created admin {user.username}")
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
