import copy
from typing import Any

import pytest

from tools import contracts
from tools.contracts import breaking_changes


@pytest.fixture(scope="module")
def created() -> dict[str, Any]:
    return contracts.current_schemas()["co.saludtech.subscriptions.subscription.created.v1"]


@pytest.fixture(scope="module")
def create() -> dict[str, Any]:
    return contracts.current_schemas()["co.saludtech.subscriptions.subscription.create.v1"]


def test_committed_schemas_are_current_and_compatible() -> None:
    assert contracts.check() == []


def test_identical_schema_is_compatible(created: dict[str, Any]) -> None:
    assert breaking_changes(created, copy.deepcopy(created)) == []


def test_adding_an_optional_top_level_field_is_compatible(created: dict[str, Any]) -> None:
    new = copy.deepcopy(created)
    new["properties"]["region"] = {"type": "string", "default": ""}
    assert breaking_changes(created, new) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["properties"].pop("plan"), "plan: removed"),
        (
            lambda s: s["properties"].__setitem__("price_cents", {"type": "string"}),
            "price_cents: type",
        ),
        (
            lambda s: (
                s["required"].append("region")
                or s["properties"].__setitem__("region", {"type": "string"})
            ),
            "region: newly required",
        ),
        (lambda s: s["required"].remove("client_code"), "client_code: no longer required"),
    ],
)
def test_breaking_changes_are_named(created: dict[str, Any], mutate: Any, expected: str) -> None:
    new = copy.deepcopy(created)
    mutate(new)
    assert any(expected in problem for problem in breaking_changes(created, new))


def test_changes_inside_nested_models_are_seen(create: dict[str, Any]) -> None:
    new = copy.deepcopy(create)
    new["$defs"]["ClientData"]["properties"].pop("email")
    assert any("client.email: removed" in p for p in breaking_changes(create, new))
    added = copy.deepcopy(create)
    added["$defs"]["ClientData"]["properties"]["phone"] = {"type": "string"}
    assert any("nested properties added" in p for p in breaking_changes(create, added))


def test_constraint_changes_break(create: dict[str, Any]) -> None:
    new = copy.deepcopy(create)
    new["properties"]["plan"]["maxLength"] = 4
    assert any("plan: maxLength changed" in p for p in breaking_changes(create, new))


def test_every_type_is_versioned_and_exported() -> None:
    for type_name, schema in contracts.current_schemas().items():
        assert type_name.startswith("co.saludtech.") and type_name.rsplit(".", 1)[1].startswith("v")
        assert (contracts.SCHEMA_ROOT / contracts._relative(type_name)).exists()
        assert schema["x-cloudevent-type"] == type_name
