"""Fill the files in scripts/templates/: ``{{key}}`` placeholders, nothing more.

Templates hold Dockerfiles and Python sources, where ``$`` and ``{}`` mean something already, so the
placeholders are double-braced names and every one must be given (a typo is an error, not a blank).
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class TemplateError(ValueError):
    """A template names a placeholder no value was given for.

    Outside the TribunalError tree: a bug in a template or in its caller, never in what a user typed."""


def render_text(template: str, values: dict[str, object], source: str = "template") -> str:
    """Replace every ``{{key}}`` in ``template`` with ``values[key]``."""

    def _value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"{source}: no value for {{{{{key}}}}}")
        return str(values[key])

    return _PLACEHOLDER.sub(_value, template)


def render(name: str, values: dict[str, object]) -> str:
    """Render scripts/templates/<name>."""
    return render_text((TEMPLATES_DIR / name).read_text(), values, f"scripts/templates/{name}")
