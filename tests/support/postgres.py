"""A throwaway PostgreSQL server for tests: Debian's server binaries, a fresh cluster in a temporary
folder, a free localhost port, gone again when the test is done.

    with running_postgres() as server:          # skips (fails on CI) when it cannot run here
        url = server.create_database("t1")      # postgresql+psycopg://tribunal:<password>@127.0.0.1:<port>/t1

PostgreSQL refuses to run as root, so under root the cluster belongs to an unprivileged account
(``nobody``) and every server process runs as that account. `make postgres` installs the binaries.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from scripts.local_stack import free_port

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "tribunal"
# Not UTC on purpose: a value that only looks right because the server happens to run in UTC shows up.
SERVER_TIMEZONE = "Asia/Kathmandu"  # +05:45, no daylight saving
UNPRIVILEGED_ACCOUNT = "nobody"


class PostgresUnavailable(RuntimeError):
    """This machine cannot run a PostgreSQL server for the tests; the message says why and what to do."""


def find_bin_dir() -> Path:
    """The newest Debian PostgreSQL server's bin folder (initdb and postgres), else one on PATH."""
    versions = []
    for initdb in DEBIAN_ROOT.glob("*/bin/initdb"):
        if (initdb.parent / "postgres").is_file() and re.fullmatch(r"\d+", initdb.parent.parent.name):
            versions.append((int(initdb.parent.parent.name), initdb.parent))
    if versions:
        return max(versions)[1]
    on_path = shutil.which("initdb")
    if on_path:
        folder = Path(on_path).resolve().parent
        if (folder / "postgres").is_file():
            return folder
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries (initdb and postgres in {DEBIAN_ROOT}/<version>/bin or on PATH); "
        "`make postgres` installs Debian's package when run as root (or: sudo apt-get install postgresql)"
    )


def require_postgres() -> Path:
    """The server's bin folder, or skip the test saying why (on CI, where `make test` installs it: fail)."""
    try:
        import psycopg  # noqa: F401  # the driver the gateway's URLs name (postgresql+psycopg://)

        return find_bin_dir()
    except (PostgresUnavailable, ImportError) as exc:
        why = str(exc)
        if isinstance(exc, ImportError):
            why = f"the psycopg driver is not installed ({exc}); `make install` installs it"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def _die_with_parent() -> None:
    """In the child, after it switched accounts (a switch clears this setting): SIGQUIT, PostgreSQL's
    immediate shutdown, when the test process dies, so a killed test run leaves no server behind."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGQUIT)  # 1 = PR_SET_PDEATHSIG


@dataclass
class PostgresServer:
    """One cluster and its server process. ``start()`` then ``stop()``; or use ``running_postgres()``."""

    bin_dir: Path
    password: str = field(default_factory=lambda: "pw/" + secrets.token_urlsafe(12) + "%:@")
    host: str = "127.0.0.1"
    port: int = 0
    base: Path | None = None
    process: subprocess.Popen | None = None
    _account: pwd.struct_passwd | None = None

    @property
    def data_dir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base is not None
        return self.base / "sockets"

    @property
    def log_path(self) -> Path:
        assert self.base is not None
        return self.base / "server.log"

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        """A SQLAlchemy URL over TCP with password authentication (the password is %-escaped)."""
        secret = quote(self.password, safe="")
        return f"postgresql+{driver}://{SUPERUSER}:{secret}@{self.host}:{self.port}/{database}"

    # Running things as the cluster's owner ---------------------------------------------------------

    def _owner_kwargs(self) -> dict:
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C", "TZ": "UTC", "HOME": str(self.base)})
        return env

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.base,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self._owner_kwargs(),
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    # Life cycle -------------------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        if os.geteuid() == 0:
            try:
                self._account = pwd.getpwnam(UNPRIVILEGED_ACCOUNT)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"running as root and there is no {UNPRIVILEGED_ACCOUNT!r} account to run PostgreSQL as"
                ) from exc
        # Not under pytest's tmp_path (nor a private TMPDIR): the unprivileged account must reach it, and
        # the socket path must stay short (Unix sockets allow about 100 characters).
        shared_tmp = "/tmp" if self._account is not None and os.path.isdir("/tmp") else None
        self.base = Path(tempfile.mkdtemp(prefix="tribunal-pg-", dir=shared_tmp))
        try:
            self._init_cluster()
            for attempt in range(3):  # a free port may be taken by someone else before the server binds it
                self.port = free_port(self.host)
                try:
                    self._start_server(timeout_s)
                    return
                except PostgresUnavailable:
                    if attempt == 2 or "could not bind" not in self._log_tail(40):
                        raise
        except BaseException:
            self.stop()
            raise

    def _init_cluster(self) -> None:
        assert self.base is not None
        self.socket_dir.mkdir()
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._account is not None:
            for path in (self.base, self.socket_dir, pwfile):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            # Passwords over TCP (what the gateway uses), no password on the private socket folder.
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tests: a throwaway cluster; durability is not what is being tested\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                f"timezone = '{SERVER_TIMEZONE}'\nlog_timezone = 'UTC'\n"
                "max_connections = 100\nshared_buffers = 32MB\n"
                "log_min_messages = warning\nlog_lock_waits = on\ndeadlock_timeout = 1s\n"
            )

    def _start_server(self, timeout_s: float) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    f"unix_socket_directories={self.socket_dir}",
                ],
                cwd=self.base,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                **self._owner_kwargs(),
            )
        finally:
            log.close()
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise PostgresUnavailable(f"postgres exited with code {code}:\n{self._log_tail()}")
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"postgres not accepting connections after {timeout_s:.0f} s:\n{self._log_tail()}"
                    ) from None
                time.sleep(0.1)

    def _dsn(self, database: str) -> str:
        return psycopg_conninfo(
            host=self.host, port=self.port, user=SUPERUSER, password=self.password, dbname=database
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (FileNotFoundError, AssertionError):
            return "(no log)"

    def create_database(self, name: str) -> str:
        """Create an empty database; its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; remove the cluster's folder."""
        process, self.process = self.process, None
        if process is not None:
            for sig, wait_s in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                if process.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(wait_s)
            # Backends left behind by a SIGKILLed postmaster share its process group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None


def psycopg_conninfo(**params: object) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**{k: str(v) for k, v in params.items()})


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server, always stopped and removed afterwards; skips (CI: fails) when it cannot run."""
    server = PostgresServer(require_postgres())
    try:
        server.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(f"cannot start a PostgreSQL server here: {exc}")
    try:
        yield server
    finally:
        server.stop()
