"""Which of Tribunal's packages may import which: ``gateway`` and ``meta_learner`` never both ways again.

The rule (issue 15):

- ``meta_learner`` imports nothing from ``gateway``. It reaches detectors through the fan-out client
  in ``tribunal_sdk.client`` and is handed the registry entries and the fusions it compares against by
  its caller (scripts/retrain.py).
- ``gateway`` imports from ``meta_learner`` only the runtime: what serving a deployed meta-learner needs
  at request time (``artifacts``, ``features``, ``paths``, and what they import: ``calibration``,
  ``classifiers``, ``equal_weight``, ``best_detector``). The runtime itself imports only the runtime, so the gateway never
  loads the training code (``query``, ``train``, ``crossval``, ``baselines``, ...).
- ``tribunal_sdk`` — the fan-out client and the wire contract included — imports neither.

So imports run gateway → meta_learner runtime → tribunal_sdk, and scripts/ is where all of them meet.
Every import counts wherever it is written: at the top of a module, inside a function, under
``if TYPE_CHECKING:``, relative, or as ``importlib.import_module("...")`` with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tribunal_home import REPO_ROOT

PACKAGE_DIRS = {
    "gateway": REPO_ROOT / "gateway",
    "meta_learner": REPO_ROOT / "meta_learner",
    "tribunal_sdk": REPO_ROOT / "sdk" / "tribunal_sdk",
}

META_LEARNER_RUNTIME = frozenset(
    {
        "meta_learner",
        "meta_learner.artifacts",
        "meta_learner.calibration",
        "meta_learner.classifiers",
        "meta_learner.equal_weight",
        "meta_learner.best_detector",
        "meta_learner.features",
        "meta_learner.paths",
    }
)


def package_modules(package: str, directory: Path) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) for every module of the package in ``directory``."""
    for path in sorted(directory.rglob("*.py")):
        parts = list(path.relative_to(directory).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join([package, *parts]), path


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name a relative ``from`` import in ``module`` refers to."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imported_modules(module: str, path: Path) -> set[str]:
    """Every module ``path`` imports anywhere in it. ``from a import b`` counts as ``a.b`` too, since b
    may be a submodule; a name that is not a module just never matches a rule."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = (
                _absolute(module, is_package, node.level, node.module) if node.level else node.module or ""
            )
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imports_of(package: str) -> dict[str, set[str]]:
    """Module name -> everything it imports, for every module of ``package``."""
    modules = package_modules(package, PACKAGE_DIRS[package])
    return {module: imported_modules(module, path) for module, path in modules}


def offending(
    imports: dict[str, set[str]], forbidden: str, allowed: frozenset[str] = frozenset()
) -> list[str]:
    """ "module imports name" for each import of package ``forbidden`` in ``imports`` not in ``allowed``."""
    known = {module for module, _ in package_modules(forbidden, PACKAGE_DIRS[forbidden])}
    problems = []
    for module, names in sorted(imports.items()):
        for name in sorted(names):
            if not _in(name, forbidden) or name in allowed:
                continue
            # ``from meta_learner.artifacts import load_artifact`` also gives ...artifacts.load_artifact, a
            # name in a module: the module is judged on its own.
            if name not in known and name.rsplit(".", 1)[0] in known:
                continue
            problems.append(f"{module} imports {name}")
    return problems


def test_the_meta_learner_imports_nothing_from_the_gateway():
    assert offending(imports_of("meta_learner"), "gateway") == []


def test_the_gateway_imports_only_the_meta_learner_runtime():
    assert offending(imports_of("gateway"), "meta_learner", allowed=META_LEARNER_RUNTIME) == []


def test_the_meta_learner_runtime_imports_only_the_runtime():
    runtime = {m: names for m, names in imports_of("meta_learner").items() if m in META_LEARNER_RUNTIME}
    assert set(runtime) == META_LEARNER_RUNTIME, "a runtime module was renamed or removed: update the rule"
    assert offending(runtime, "meta_learner", allowed=META_LEARNER_RUNTIME) == []


@pytest.mark.parametrize("forbidden", ["gateway", "meta_learner"])
def test_the_sdk_and_its_fan_out_client_import_neither(forbidden):
    assert offending(imports_of("tribunal_sdk"), forbidden) == []


def test_the_gateway_and_the_meta_learner_share_one_fan_out_client():
    from gateway import app
    from gateway.pipeline import selection
    from meta_learner import query
    from tribunal_sdk import client

    assert app.FanoutClient is client.FanoutClient is query.FanoutClient
    assert selection.DetectorOutcome is client.DetectorOutcome is query.DetectorOutcome


def test_the_import_walker_sees_every_kind_of_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import sibling\nfrom .. import top\n")
    (package / "sub" / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n"
        "    from gateway.registry import DetectorEntry\n"
        "def later():\n"
        "    import gateway.fanout\n"
        "    from ..other import thing\n"
        "    return importlib.import_module('gateway.fusion')\n"
    )
    modules = dict(package_modules("pkg", package))
    assert set(modules) == {"pkg", "pkg.sub", "pkg.sub.mod"}
    assert imported_modules("pkg.sub", modules["pkg.sub"]) >= {"pkg.sub.sibling", "pkg.top"}
    assert imported_modules("pkg.sub.mod", modules["pkg.sub.mod"]) >= {
        "gateway.registry",
        "gateway.fanout",
        "gateway.fusion",
        "pkg.other.thing",
    }
