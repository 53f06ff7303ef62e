"""A context reaches another only through its messages and its doors.

Every module under functions/<context>/ may import another context's `messages` (the
published contract: its commands and events, and the read models its doors answer, which the
api reads those answers into: one definition, not a copy per reader), and nothing else of
it: not its wiring, its queries, its doors, its entry points, its domain. Each context has
its own database, so code borrowed
from another context would read the borrower's database and find nothing; what one context
needs of another it asks at that context's HTTP doors (shared/ports/doors.py) or learns
from its events. functions/bootstrap.py is the composition root, not a context: every
context may import it, and it may import anything.

The imports are read from the source (ast), so an import inside a function, under
TYPE_CHECKING, relative, or as a string given to importlib counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).parents[2] / "functions"
CONTEXTS = sorted(p.name for p in FUNCTIONS.iterdir() if (p / "__init__.py").is_file())
ALLOWED_MODULES = {"messages"}
_IMPORTERS = {"import_module", "__import__"}


def _module_of(path: Path) -> str:
    """functions/api/adapters/x.py -> functions.api.adapters.x (a package: its name)."""
    parts = list(path.relative_to(FUNCTIONS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` names, relative ones resolved against `package`."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(source: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module's source imports: `from a.b import c`
    yields `a.b.c` (c may be a module or a name in a.b: either way it is of a.b)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base
        elif isinstance(node, ast.Call) and node.args:
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if name in _IMPORTERS and literal:
                yield node.lineno, str(getattr(first, "value", ""))


def crossing(context: str, dotted: str) -> bool:
    """Whether `dotted`, imported from `context`, reaches into another context's code."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != "functions" or parts[1] not in CONTEXTS:
        return False
    if parts[1] == context:
        return False
    return len(parts) < 3 or parts[2] not in ALLOWED_MODULES


def violations(context: str) -> list[str]:
    found = []
    for path in sorted((FUNCTIONS / context).rglob("*.py")):
        module = _module_of(path)
        source = path.read_text(encoding="utf-8")
        for line, dotted in imported_modules(source, _package_of(module, path)):
            if crossing(context, dotted):
                found.append(f"{path.relative_to(FUNCTIONS.parent)}:{line} imports {dotted}")
    return found


@pytest.mark.parametrize("context", CONTEXTS)
def test_a_context_imports_only_the_messages_of_another(context: str) -> None:
    assert violations(context) == [], "\n".join(violations(context))


def _crossings(context: str, source: str) -> list[str]:
    found = imported_modules(source, f"functions.{context}")
    return sorted(dotted for _, dotted in found if crossing(context, dotted))


def test_the_check_tells_the_messages_from_the_rest() -> None:
    assert len(CONTEXTS) >= 2, CONTEXTS
    mine, other = CONTEXTS[0], CONTEXTS[1]
    allowed = f"""
from functions.{other} import messages
from functions.{other}.messages import Something
import functions.{other}.messages
from functions.{mine} import wiring
from functions import bootstrap
from . import queries
"""
    assert _crossings(mine, allowed) == []
    forbidden = f"""
from functions.{other} import wiring
from functions.{other} import messages, queries
from functions.{other} import doors
from functions.{other}.views import SomethingView
from functions.{other}.queries import get
import functions.{other}
import functions.{other}.entrypoints as doors
from functions import {other}
from ..{other} import domain
def late():
    from functions.{other}.wiring import build
    return importlib.import_module("functions.{other}.unit_of_work")
"""
    expected = [f"functions.{other}{tail}" for tail in (
        ".wiring", ".queries", ".doors", ".views.SomethingView", ".queries.get", "",
        ".entrypoints", "", ".domain", ".wiring.build", ".unit_of_work",
    )]  # fmt: skip
    assert _crossings(mine, forbidden) == sorted(expected)
