"""requirements.lock pins what the pyproject files declare (scripts/dependency_lock.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.dependency_lock import LockError, check, declared_requirements, read_lock


def test_the_committed_lock_pins_every_declared_dependency_within_its_range():
    assert check() == [], "a pyproject.toml changed without `make lock`"


def test_the_install_line_and_the_lock_agree_on_the_extras():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "-c requirements.lock -e 'sdk[video]' -e '.[ml,dev]' -e client" in makefile
    names = {d.requirement.name.lower() for d in declared_requirements()}
    assert {"torch", "fastapi", "pytest", "httpx"} <= names  # [ml], base, [dev], client


def _tree(tmp_path: Path, root_deps: str, lock: str) -> Path:
    for folder, name in (("sdk", "tribunal-sdk"), (".", "tribunal"), ("client", "tribunal-client")):
        (tmp_path / folder).mkdir(exist_ok=True)
        deps = root_deps if folder == "." else "[]"
        (tmp_path / folder / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "0"\ndependencies = {deps}\n'
            "[project.optional-dependencies]\nml = []\ndev = []\nvideo = []\n"
        )
    (tmp_path / "requirements.lock").write_text(lock)
    return tmp_path


def test_a_dependency_missing_from_the_lock_or_pinned_out_of_range_is_reported(tmp_path):
    root = _tree(tmp_path, '["numpy>=2", "PyYAML>=6", "tribunal-sdk"]', "# header\nnumpy==1.26.4\n")
    problems = check(root)
    assert any("numpy>=2" in p and "pins 1.26.4" in p for p in problems)
    assert any("PyYAML>=6" in p and "not in the lock" in p for p in problems)
    assert not any("tribunal-sdk" in p for p in problems)  # the project's own packages are not pinned


def test_a_lock_in_range_passes_and_names_are_compared_canonically(tmp_path):
    root = _tree(
        tmp_path, '["PyYAML>=6", "python_multipart>=0.0.9"]', "pyyaml==6.0.2\npython-multipart==0.0.20\n"
    )
    assert check(root) == []


def test_a_malformed_or_missing_lock_is_a_clear_error(tmp_path):
    (tmp_path / "requirements.lock").write_text("numpy>=2\n")
    with pytest.raises(LockError, match="expected name==version"):
        read_lock(tmp_path / "requirements.lock")
    with pytest.raises(LockError, match="make lock"):
        read_lock(tmp_path / "nothing.lock")
