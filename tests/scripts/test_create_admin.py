"""``make admin``: create an admin, or promote an existing account."""

from __future__ import annotations

import io

from sqlalchemy import select

from gateway.auth.passwords import verify_password
from gateway.db.engine import Database
from gateway.db.models import User
from scripts.create_admin import main


def roles(url: str) -> dict[str, str]:
    db = Database(url)
    with db.session() as session:
        found = {u.username: u.role for u in session.scalars(select(User))}
    db.dispose()
    return found


def test_creates_an_admin_then_promotes_an_existing_user(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
    assert main(["--username", "Root", "--password-stdin", "--database-url", url]) == 0
    assert roles(url) == {"root": "admin"}
    db = Database(url)
    with db.session() as session:
        user = session.scalar(select(User))
        assert verify_password("a long passphrase", user.password_hash)
        session.add(User(username="bob", password_hash="x", role="user"))
    db.dispose()

    assert main(["--username", "bob", "--database-url", url]) == 0
    assert roles(url) == {"root": "admin", "bob": "admin"}
    assert "bob is now an admin" in capsys.readouterr().out


def test_refuses_a_weak_password(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["--username", "root", "--password-stdin", "--database-url", url]) == 1
    assert "password" in capsys.readouterr().err
    assert roles(url) == {}
