"""Every context's doors publish the contract generated from their models (GET /openapi.json),
and that contract says everything a caller needs: OpenAPI 3.1, no catch-all `default`
answer, the refusals of every operation in the one error shape, a schema for every success
(typed answers, never a bare object), every path id with the rule of a document id."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_openapi3.openapi import OpenAPI

from functions.bootstrap import InMemoryPlatform
from shared.entrypoints.http_app import openapi_document
from shared.ports.documents import DOCUMENT_ID_PATTERN
from tests.support.functions import function_client

FUNCTIONS = Path(__file__).parents[3] / "functions"
METHODS = {"get", "put", "post", "delete", "patch"}
ERROR = {"$ref": "#/components/schemas/ErrorAnswer"}


def _http_entry_points(context: str) -> list[str]:
    """The functions-framework HTTP functions of a context's entrypoints.py."""
    source = (FUNCTIONS / context / "entrypoints.py").read_text()
    return [
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "functions_framework.http" for d in node.decorator_list)
    ]


CONTEXTS = sorted(
    p.name
    for p in FUNCTIONS.iterdir()
    if (p / "entrypoints.py").is_file() and p.name != "api" and _http_entry_points(p.name)
)


def door_apps() -> Iterator[tuple[str, OpenAPI]]:
    for context in CONTEXTS:
        doors = importlib.import_module(f"functions.{context}.doors")
        for name, value in sorted(vars(doors).items()):
            if isinstance(value, OpenAPI):
                yield f"{context}.{name}", value


APPS = dict(door_apps())


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from [value] if key == "$ref" else references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_context_with_http_functions_has_its_doors() -> None:
    assert CONTEXTS == [
        "data_services", "identity", "ingestion", "notifications", "sagas", "subscriptions",
    ]  # fmt: skip
    for context in CONTEXTS:
        served = [name.split(".")[0] for name in APPS]
        assert context in served, f"{context} has HTTP functions and no door app"
        source = (FUNCTIONS / context / "entrypoints.py").read_text()
        for function in _http_entry_points(context):
            body = source.split(f"def {function}(", 1)[1].split("\n\n\n", 1)[0]
            assert "return serve(doors." in body, f"{function} is not one line to its door"


@pytest.mark.parametrize("name", sorted(APPS))
def test_the_contract_is_openapi_3_1_with_typed_answers_and_declared_refusals(name: str) -> None:
    document = openapi_document(APPS[name])
    assert document["openapi"].startswith("3.1"), name
    schemas = document.get("components", {}).get("schemas", {})
    dangling = {r for r in references(document) if r.rpartition("/")[2] not in schemas}
    assert not dangling, f"{name} refers to schemas it does not hold: {dangling}"
    found = list(operations(document))
    assert found, f"{name} has no operation"
    for where, operation in found:
        answers = operation["responses"]
        assert "default" not in answers, where
        refusals = {status: a for status, a in answers.items() if status[0] in "45"}
        assert "400" in refusals, f"{where} declares no refusal of a bad request"
        for status, refusal in refusals.items():
            schema = refusal["content"]["application/json"]["schema"]
            assert schema == ERROR, f"{where} {status} is not the one error shape"
        successes = {status: a for status, a in answers.items() if status.startswith("2")}
        assert successes, f"{where} declares no success"
        for status, success in successes.items():
            content = success.get("content") or {}
            assert content, f"{where} {status} has no content"
            for media, typed in content.items():
                assert typed.get("schema"), f"{where} {status} {media} has no schema"
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"].get("pattern") == DOCUMENT_ID_PATTERN, where


@pytest.mark.parametrize("name", sorted(APPS))
def test_each_door_serves_its_contract(name: str) -> None:
    answer = APPS[name].test_client().get("/openapi.json")
    assert answer.status_code == 200
    assert answer.get_json() == openapi_document(APPS[name])


def test_the_contract_is_served_through_the_function(platform: InMemoryPlatform) -> None:
    answer = function_client("subscriptions_queries_http").get("/openapi.json")
    assert answer.status_code == 200
    assert "/subscriptions/{subscription_id}" in answer.get_json()["paths"]
