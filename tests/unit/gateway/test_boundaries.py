"""The gateway is a separate deployable: it imports nothing of the platform, and nothing
outside requirements-gateway.txt (what a hospital installs)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "gateway"
# Distribution name -> the module it installs, for the pins of requirements-gateway.txt.
MODULES = {"pynetdicom": "pynetdicom", "pydicom": "pydicom", "requests": "requests",
           "tenacity": "tenacity", "typer": "typer"}  # fmt: skip


def _imports() -> set[str]:
    found: set[str] = set()
    for path in GATEWAY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_the_gateway_imports_only_itself_the_standard_library_and_its_requirements() -> None:
    pinned = {
        line.split("==")[0]
        for line in (ROOT / "requirements-gateway.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    allowed = {MODULES[name] for name in pinned} | {"gateway"}
    outside = {m for m in _imports() if m not in sys.stdlib_module_names and m not in allowed}
    assert outside == set()
    assert not {"functions", "shared", "infra"} & _imports()
