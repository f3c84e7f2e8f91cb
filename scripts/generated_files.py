"""Write or check a set of generated files, so committed copies cannot drift from what renders.

A generator returns ``{relative path: text}``. ``write`` puts them on disk; ``drift`` lists every file
that differs, is missing, or is left over in a folder the generator owns entirely (e.g. the manifest
of a detector that was removed from the registry).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

Rendered = Mapping[Path, str]


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists, and no &anchors/*aliases when a value is reused: generated
    files are read by people and by tools that do not all resolve aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_yaml(*documents: Any) -> str:
    """YAML text of one or more documents, keys in the order given."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, width=120)


def _stale(rendered: Rendered, root: Path, owned_dirs: Iterable[Path]) -> list[Path]:
    stale = []
    for folder in owned_dirs:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and relative not in rendered:
                stale.append(relative)
    return stale


def write(rendered: Rendered, root: Path, owned_dirs: Iterable[Path] = ()) -> list[Path]:
    """Write every rendered file that changed and delete stale ones; returns the paths touched."""
    touched = []
    for relative in _stale(rendered, root, owned_dirs):
        (root / relative).unlink()
        touched.append(relative)
    for relative, text in rendered.items():
        path = root / relative
        if path.is_file() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        touched.append(relative)
    # Folders the stale files leave empty go too, so removing a detector leaves no trace.
    for folder in owned_dirs:
        base = root / folder
        if base.is_dir():
            for sub in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
                if not any(sub.iterdir()):
                    sub.rmdir()
    return touched


def drift(rendered: Rendered, root: Path, owned_dirs: Iterable[Path] = ()) -> list[str]:
    """One line per file that is not what the generator renders; empty when everything matches."""
    problems = []
    for relative, text in rendered.items():
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif path.read_text() != text:
            problems.append(f"{relative}: differs from what the generator renders")
    problems.extend(
        f"{relative}: left over (nothing renders it any more)"
        for relative in _stale(rendered, root, owned_dirs)
    )
    return problems
