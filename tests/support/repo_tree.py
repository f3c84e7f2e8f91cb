"""A throw-away copy of the repository, and snapshots to compare a tree before and after."""

from __future__ import annotations

import shutil
from pathlib import Path

from tribunal_home import REPO_ROOT

# Environments, data, runtime output and caches: big, machine-specific, or made by running things.
IGNORED = {
    ".git",
    ".venv",
    "data",
    "var",
    "node_modules",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "test-artifacts",
}


def _ignore(_: str, names: list[str]) -> set[str]:
    return {n for n in names if n in IGNORED or n.endswith(".egg-info")}


def copy_repo(dest: Path) -> Path:
    """Copy the working tree (not .git, .venv, data, var, node_modules, build output) to ``dest``."""
    shutil.copytree(REPO_ROOT, dest, ignore=_ignore, symlinks=True)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (minus the ignored folders) with its bytes, by relative path."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in IGNORED or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path.is_file():
            files[str(relative)] = path.read_bytes()
    return files


def tree_diff(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Human-readable differences between two snapshots; empty when equal."""
    lines = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return lines
