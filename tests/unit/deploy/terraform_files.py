"""The repository's Terraform, parsed with python-hcl2 into plain dictionaries.

python-hcl2 keeps the quotes of block labels and string literals (`"google_pubsub_topic"`,
`"\\"604800s\\""`); `unquote` drops them so tests read like the HCL they check.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[3]
TERRAFORM = REPO_ROOT / "terraform"
TOPOLOGY_MODULE = TERRAFORM / "modules" / "topology"
PLATFORM_MODULE = TERRAFORM / "modules" / "platform"
ENVIRONMENTS = sorted(p for p in (TERRAFORM / "environments").iterdir() if p.is_dir())


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        # python-hcl2 annotates blocks with `__is_block__`, `__comments__`, ...: not HCL.
        return {unquote(k): unquote(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    return value


@cache
def parse_dir(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every top-level block of the .tf files of one module, by block type."""
    blocks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = unquote(hcl2.load(handle))
        for kind, entries in parsed.items():
            blocks.setdefault(kind, []).extend(entries)
    return blocks


def resources(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> the resource's body."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in parse_dir(directory).get("resource", []):
        for rtype, named in entry.items():
            for name, body in named.items():
                found[(rtype, name)] = body
    return found


def locals_of(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in parse_dir(directory).get("locals", []):
        merged.update(entry)
    return merged


def modules_of(directory: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in parse_dir(directory).get("module", []):
        found.update(entry)
    return found


def all_terraform_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))
