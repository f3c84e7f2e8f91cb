"""Add or remove one entry of config/detectors.yaml without disturbing anything else in the file.

ruamel.yaml parses the file and says on which line each entry starts; the edit splices whole lines
there (an entry plus the comment block above it), so every other line, comment and blank line stays
byte for byte. After each edit the result is parsed again with the registry's own schema
(gateway.registry) and compared with the intended list of entries; if they differ nothing is written.
Adding an entry and removing it again gives back the original file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gateway.registry import DetectorEntry, Registry, RegistryError, parse_registry


class RegistryEditError(RegistryError):
    """The registry file cannot be edited safely; the message says why and what to fix."""


def _parse(text: str, path: Path) -> tuple[CommentedMap, CommentedSeq, Registry]:
    # The schema allows no other top-level key, so the end of the file is the end of the list.
    data = YAML(typ="rt").load(text)
    registry = parse_registry(yaml.safe_load(text), str(path))
    if not isinstance(data, CommentedMap) or not isinstance(data.get("detectors"), CommentedSeq):
        raise RegistryEditError(f"{path}: expected a block list under `detectors:`")
    return data, data["detectors"], registry


def _span_start(lines: list[str], item_line: int) -> int:
    """First line belonging to the entry starting at ``item_line``: its comment block, and one blank
    line separating it from the entry before."""
    start = item_line
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    if start > 0 and not lines[start - 1].strip():
        start -= 1
    return start


def _render_entry(entry: dict[str, Any], dash_column: int, comment: str) -> list[str]:
    """The entry as block YAML at the registry's indentation, media types in flow style like the rest."""
    item = CommentedMap(entry)
    media_types = CommentedSeq(entry["media_types"])
    media_types.fa.set_flow_style()
    item["media_types"] = media_types
    dumper = YAML(typ="rt")
    dumper.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    dumper.dump(CommentedSeq([item]), buffer)
    # The dump puts the dash at column 2 (offset); shift it to where this file puts its dashes.
    shift = dash_column - 2
    body = [(" " * shift + line) if shift >= 0 else line[-shift:] for line in buffer.getvalue().splitlines()]
    prefix = " " * dash_column
    return ["", *(f"{prefix}# {text}" if text else f"{prefix}#" for text in comment.splitlines()), *body]


def _write_checked(path: Path, text: str, expected: list[DetectorEntry]) -> None:
    try:
        result = parse_registry(yaml.safe_load(text), str(path))
    except (RegistryError, yaml.YAMLError) as exc:
        raise RegistryEditError(
            f"{path}: the edit would make the file invalid, nothing written:\n{exc}"
        ) from exc
    if result.detectors != expected:
        raise RegistryEditError(f"{path}: the edit did not give the intended entries, nothing written")
    path.write_text(text)


def append_entry(path: Path, entry: dict[str, Any], comment: str = "") -> None:
    """Add ``entry`` (registry fields) at the end of the ``detectors`` list, with ``comment`` above it."""
    text = path.read_text()
    _, detectors, registry = _parse(text, path)
    lines = text.splitlines()
    if not len(detectors):
        raise RegistryEditError(f"{path}: `detectors:` is empty; add the first entry by hand")
    # New entries copy the first entry's layout: `<indent>- name: ...`.
    line, column = detectors.lc.item(0)
    if lines[line][:column].strip() != "-":
        raise RegistryEditError(f"{path}: line {line + 1}: expected an entry written as `- name: ...`")
    dash_column = lines[line].index("-")
    new = _render_entry(entry, dash_column, comment)
    head = text if text.endswith("\n") else text + "\n"
    expected = [*registry.detectors, DetectorEntry.model_validate(entry)]
    _write_checked(path, head + "\n".join(new) + "\n", expected)


def remove_entry(path: Path, name: str) -> None:
    """Remove the entry called ``name`` with the comment block above it; RegistryEditError if absent."""
    text = path.read_text()
    _, detectors, registry = _parse(text, path)
    names = [item.get("name") for item in detectors]
    if name not in names:
        raise RegistryEditError(
            f"{path}: no detector named {name!r} (registered: {', '.join(map(str, names))})"
        )
    index = names.index(name)
    lines = text.splitlines(keepends=True)
    start = _span_start(lines, detectors.lc.item(index)[0])
    end = _span_start(lines, detectors.lc.item(index + 1)[0]) if index + 1 < len(detectors) else len(lines)
    expected = [e for e in registry.detectors if e.name != name]
    _write_checked(path, "".join(lines[:start] + lines[end:]), expected)
