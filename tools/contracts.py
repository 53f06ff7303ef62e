"""Message contracts: export every payload's JSON Schema and refuse breaking changes to v1.

`python -m tools.contracts export` writes shared/schemas/v<N>/<type>.json for every
registered message; `python -m tools.contracts check` (run by `make test`) fails when the
exported files are stale or when a schema changed incompatibly against the committed file or
any earlier version of it in git history. A breaking change needs a new type version (v2),
published side by side.

What counts as compatible (readers are tolerant of unknown top-level fields, see
shared/envelope.py): adding an optional top-level property, changing descriptions.
Everything else (a removed or retyped property, a newly required one, a relaxed required
one, a removed type) breaks someone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.domain.messages import registered_messages

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_ROOT = REPO_ROOT / "shared" / "schemas"


def message_modules() -> list[str]:
    """Every context's contract: functions/<context>/messages.py, found, not listed."""
    return sorted(
        f"functions.{path.parent.name}.messages"
        for path in (REPO_ROOT / "functions").glob("*/messages.py")
    )


def current_schemas() -> dict[str, dict[str, Any]]:
    for module in message_modules():
        importlib.import_module(module)
    schemas = {}
    for type_name, model in registered_messages().items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://schemas.saludtech.co/{_relative(type_name)}"
        schema["x-cloudevent-type"] = type_name
        schemas[type_name] = schema
    return schemas


def _relative(type_name: str) -> str:
    return f"{type_name.rsplit('.', 1)[1]}/{type_name}.json"


def export(root: Path = SCHEMA_ROOT) -> list[Path]:
    written = []
    for type_name, schema in current_schemas().items():
        path = root / _relative(type_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """What in `new` breaks a producer or a consumer written against `old`."""
    problems: list[str] = []
    old, new = _resolve(old, old), _resolve(new, new)
    old_type, new_type = _types(old), _types(new)
    if old_type != new_type:
        return [f"{where or 'payload'}: type {sorted(old_type)} became {sorted(new_type)}"]
    if "enum" in old and not set(old["enum"]) <= set(new.get("enum", old["enum"])):
        problems.append(f"{where}: enum values removed")
    for keyword in ("pattern", "maxLength", "minLength", "maximum", "minimum", "format"):
        if old.get(keyword) != new.get(keyword):
            problems.append(f"{where}: {keyword} changed")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name, old_prop in old_props.items():
        path = f"{where}.{name}" if where else name
        if name not in new_props:
            problems.append(f"{path}: removed")
            continue
        problems += breaking_changes(
            _with_defs(old_prop, old), _with_defs(new_props[name], new), path
        )
    for name in new_required - old_required:
        problems.append(f"{where}.{name}: newly required" if where else f"{name}: newly required")
    for name in (old_required - new_required) & set(new_props):
        problems.append(
            f"{where}.{name}: no longer required" if where else f"{name}: no longer required"
        )
    if where and set(new_props) - set(old_props):
        problems.append(f"{where}: nested properties added (nested objects are read strictly)")
    if "items" in old:
        problems += breaking_changes(
            _with_defs(old["items"], old), _with_defs(new.get("items", {}), new), f"{where}[]"
        )
    return problems


def _with_defs(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "$defs": root.get("$defs", {})} if "$defs" in root else schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        target = root.get("$defs", {})[ref.rsplit("/", 1)[1]]
        return {**target, "$defs": root.get("$defs", {})}
    if "anyOf" in schema:  # Optional[X] is anyOf [X, null]: compare by its members' types
        return {
            **schema,
            "type": sorted(
                _types(_resolve(s, root)).pop()
                for s in schema["anyOf"]
                if _types(_resolve(s, root))
            ),
        }
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    return {kind} if kind else set()


def _history(path: Path) -> list[dict[str, Any]]:
    """Every committed version of a schema file (empty outside a git checkout)."""
    repo = REPO_ROOT
    relative = path.relative_to(repo)
    try:
        commits = subprocess.run(
            ["git", "log", "--format=%H", "--", str(relative)],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
        versions = []
        for commit in commits:
            shown = subprocess.run(
                ["git", "show", f"{commit}:{relative}"],
                cwd=repo,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            if shown.returncode == 0:
                versions.append(json.loads(shown.stdout))
        return versions
    except (OSError, subprocess.SubprocessError):
        return []


def check(root: Path = SCHEMA_ROOT) -> list[str]:
    problems: list[str] = []
    schemas = current_schemas()
    committed = {p.stem: p for p in root.glob("v*/*.json")}
    for type_name in sorted(set(committed) - set(schemas)):
        problems.append(f"{type_name}: type removed (keep it, or deprecate it and keep reading it)")
    for type_name, schema in schemas.items():
        path = root / _relative(type_name)
        if type_name not in committed:
            problems.append(f"{type_name}: not exported (run `make schemas`)")
            continue
        baselines = [json.loads(path.read_text()), *_history(path)]
        for baseline in baselines:
            problems += [f"{type_name}: {p}" for p in breaking_changes(baseline, schema)]
        if json.loads(path.read_text()) != schema:
            problems.append(f"{type_name}: exported schema is stale (run `make schemas`)")
    return sorted(set(problems))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.contracts",
        description="The published message schemas (shared/schemas/): `check` (the default) "
        "fails on a breaking change or a stale export; `export` writes them, then checks.",
    )
    parser.add_argument("command", nargs="?", default="check", choices=("export", "check"))
    command = parser.parse_args(argv[1:]).command
    if command == "export":
        for path in export():
            print(path.relative_to(SCHEMA_ROOT.parent.parent))
        problems = check()
    elif command == "check":
        problems = check()
    else:
        print("usage: python -m tools.contracts [export|check]", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"breaking: {problem}", file=sys.stderr)
    if not problems:
        print(f"{len(current_schemas())} message schemas, no breaking change")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
