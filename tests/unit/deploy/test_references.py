"""What `terraform validate` would check, offline: every reference names something declared.

`validate` needs the providers, which these machines cannot download; a misspelt variable,
local, output or item field would only show in Cloud Build. Item fields are checked against
what the topology module really computes for infra/topology.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.terraform_files import (
    ENVIRONMENTS,
    PLATFORM_MODULE,
    TOPOLOGY_MODULE,
    locals_of,
    modules_of,
    parse_dir,
    resources,
)
from tests.unit.deploy.test_platform_resources import topology_output_behind

MODULES = [TOPOLOGY_MODULE, PLATFORM_MODULE, *ENVIRONMENTS]


def source_of(directory: Path) -> str:
    text = "\n".join(p.read_text("utf-8") for p in sorted(directory.glob("*.tf")))
    return re.sub(r"#.*", "", text)  # comments name things too, in prose


def declared(directory: Path, kind: str) -> set[str]:
    return {name for entry in parse_dir(directory).get(kind, []) for name in entry}


@pytest.mark.parametrize("directory", MODULES, ids=lambda p: p.name)
def test_every_variable_and_local_referenced_is_declared(directory: Path) -> None:
    text = source_of(directory)
    assert set(re.findall(r"\bvar\.(\w+)", text)) <= declared(directory, "variable")
    assert set(re.findall(r"\blocal\.(\w+)", text)) <= set(locals_of(directory))


@pytest.mark.parametrize("directory", MODULES, ids=lambda p: p.name)
def test_every_resource_and_data_source_referenced_is_declared(directory: Path) -> None:
    text = source_of(directory)
    declared_resources = {f"{t}.{n}" for t, n in resources(directory)}
    data = {
        f"{t}.{n}"
        for entry in parse_dir(directory).get("data", [])
        for t, named in entry.items()
        for n in named
    }
    data_refs = set(re.findall(r"\bdata\.(google_\w+\.\w+|archive_file\.\w+)", text))
    assert data_refs <= data
    refs = set(re.findall(r"(?<![\w.])(google_[a-z0-9_]+\.[a-z0-9_]+)", text))
    # `removed` and `moved` blocks name what is no longer declared, on purpose.
    gone = {
        str(block["from"]).removeprefix("${").removesuffix("}")
        for kind in ("removed", "moved")
        for block in parse_dir(directory).get(kind, [])
    }
    assert refs - data_refs - gone <= declared_resources


@pytest.mark.parametrize("directory", [PLATFORM_MODULE, *ENVIRONMENTS], ids=lambda p: p.name)
def test_every_module_output_referenced_exists(directory: Path) -> None:
    calls = modules_of(directory)
    for module, output in set(re.findall(r"\bmodule\.(\w+)\.(\w+)", source_of(directory))):
        callee = (directory / calls[module]["source"]).resolve()
        outputs = {name for entry in parse_dir(callee).get("output", []) for name in entry}
        assert output in outputs, f"module.{module}.{output}"


@pytest.mark.parametrize("directory", [PLATFORM_MODULE, *ENVIRONMENTS], ids=lambda p: p.name)
def test_every_module_input_given_is_a_variable_of_the_module(directory: Path) -> None:
    for call in modules_of(directory).values():
        callee = (directory / call["source"]).resolve()
        given = set(call) - {"source", "depends_on", "providers", "count", "for_each"}
        assert given <= declared(callee, "variable"), callee


def test_every_item_field_a_resource_reads_is_computed(derived: dict[str, Any]) -> None:
    checked = 0
    for key, body in resources(PLATFORM_MODULE).items():
        output = topology_output_behind(str(body.get("for_each", "")))
        items = derived.get(output or "")
        if not isinstance(items, dict) or not items:
            continue
        for field in set(re.findall(r"\beach\.value\.(\w+)", str(body))):
            missing = [name for name, item in items.items() if field not in item]
            assert not missing, f"{key} reads each.value.{field}, absent from {missing[:3]}"
            checked += 1
    assert checked >= 20
