"""Every GET route of the api, and of every context's query door, with hostile values for
each query parameter and path id, as every role: a 4xx with a machine-readable reason,
never a 5xx (issue 22). The routes and parameters are read from the published documents
(GET /v1/openapi.json, GET /openapi.json of each door), so a new route is walked too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote

import flask
import pytest
from werkzeug.test import EnvironBuilder

from functions.api.context_doors import DEAD_LETTER_DOORS
from shared.adapters.in_process_doors import DoorFunction
from tests.unit.api.conftest import Answer, Api, make_api

HOSTILE = [
    "..",
    ".",
    "__x__",
    "a/b",
    "x" * 1_600,
    "p" * 3_000,
    "a\x00b",
    "\x00",
    "ñandú-🙂",
    "%2e%2e",
    " ",
    "-1",
]
# What Firestore refuses as a document id, or an HTTP client would not send as one segment.
NOT_IDS = {"..", ".", "__x__", "a/b", "x" * 1_600, "%2e%2e"}
ROLES = [None, "client-a", "center-a", "expert-a", "operator"]
# A well-formed id for the path parameters that are not the one under attack.
PLAIN_ID = "x1"
# The query doors the api reads through (main.py exports each by its entry point).
QUERY_DOORS = sorted({*DEAD_LETTER_DOORS.values(), "identity_queries_http"})
# Routes that answer a stream as long as they are given: their ids are attacked, their
# query values are not sent (they take none).
STREAMS = re.compile(r"/stream$")


@pytest.fixture
def api() -> Iterator[Api]:
    # Thousands of calls: no rate limit may answer 429 before the value is looked at.
    yield from make_api(api_queries_per_minute=10**9, api_commands_per_minute=10**9)


def _get_operations(document: dict[str, Any]) -> Iterator[tuple[str, list[str], list[str]]]:
    """(path template, path parameters, query parameters) of every GET."""
    for template, item in sorted(document["paths"].items()):
        operation = item.get("get")
        if operation is None:
            continue
        declared = [*item.get("parameters", []), *operation.get("parameters", [])]
        in_path = [p["name"] for p in declared if p["in"] == "path"]
        in_path += [n for n in re.findall(r"{(\w+)}", template) if n not in in_path]
        in_query = [p["name"] for p in declared if p["in"] == "query"]
        yield template, in_path, in_query


def _fill(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: quote(ids.get(m[1], PLAIN_ID), safe=""), template)


def _requests(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    """Each GET with one hostile value: a path id, or a query parameter (alone)."""
    for template, in_path, in_query in _get_operations(document):
        for value in HOSTILE:
            for name in in_path:
                yield _fill(template, {name: value}), {}
            if STREAMS.search(template):
                continue
            for name in in_query:
                yield _fill(template, {}), {name: value}


def _refused_properly(answer: Answer, query: dict[str, str]) -> str | None:
    """Why the answer is wrong, or None: never a 5xx; a JSON 4xx names its reason; a query
    value no store can take (3,000 characters, an id Firestore refuses) never reaches one."""
    if answer.status >= 500:
        return f"{answer.status} {answer.raw[:300]!r}"
    unbounded = any(len(value) >= 3_000 for value in query.values())
    not_an_id = any(name.endswith("_id") and value in NOT_IDS for name, value in query.items())
    if (unbounded or not_an_id) and not 400 <= answer.status < 500:
        return f"{answer.status}: taken, not refused"
    if 400 <= answer.status < 500 and "json" in answer.headers.get("Content-Type", ""):
        error = (answer.body or {}).get("error")
        if not isinstance(error, dict) or not isinstance(error.get("reason"), str):
            return f"{answer.status} without a reason: {answer.raw[:300]!r}"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_no_api_get_route_answers_5xx_to_a_hostile_value(api: Api, role: str | None) -> None:
    document = api.call("GET", "/v1/openapi.json").body
    token = api.login(role) if role else None
    failures, walked = [], 0
    for path, query in _requests(document):
        walked += 1
        answer = api.call("GET", path, token=token, query=query)
        wrong = _refused_properly(answer, query)
        if wrong:
            failures.append(
                f"GET {path[:120]} { ({k: v[:40] for k, v in query.items()}) }: {wrong}"
            )
    assert walked > 300, walked  # the document was read, its routes walked
    assert not failures, "\n".join(failures[:40])


def _door(target: str) -> DoorFunction:
    import main

    return cast(DoorFunction, getattr(main, target))


def _call_door(door: DoorFunction, path: str, query: dict[str, str]) -> Answer:
    builder = EnvironBuilder(path=path, method="GET", query_string=query)
    try:
        response = door(flask.Request(builder.get_environ()))
    finally:
        builder.close()
    return Answer(response.status_code, dict(response.headers), response.get_data())


@pytest.mark.parametrize("target", QUERY_DOORS)
def test_no_query_door_answers_5xx_to_a_hostile_value(api: Api, target: str) -> None:
    door = _door(target)
    document = json.loads(_call_door(door, "/openapi.json", {}).raw)
    failures, walked = [], 0
    for path, query in _requests(document):
        # The scopes the api sends (client_code, center...) are attacked as any parameter;
        # a route's other required ones are given a plain value so the attacked one is read.
        walked += 1
        wrong = _refused_properly(_call_door(door, path, query), query)
        if wrong:
            failures.append(
                f"GET {path[:120]} { ({k: v[:40] for k, v in query.items()}) }: {wrong}"
            )
    assert walked > 10, walked
    assert not failures, "\n".join(failures[:40])
