"""schemathesis against the API's own OpenAPI document, on the local stack: no 5xx, every
response as declared (status, content type, schema), every protected operation refusing a
missing or a forged token. Positive and negative examples (requests the document says are
wrong: their refusal must be declared too). Bounded: a dozen examples per operation and
mode, with schemathesis' coverage cases (about 1,600 calls, a minute).

Each operation is called with a token of a role it serves (its `x-roles`), so the data
paths are exercised too, not only the refusals. No operation declares a catch-all
`default`: an operation that answers a status it does not declare fails
status_code_conformance.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks

from functions.api.app import app
from functions.identity.messages import Role
from shared.entrypoints.http_app import openapi_document
from tests.e2e.test_api_flow import api_url, login, register

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.ignored_auth,
]
SCOPES = {Role.CENTER: "hospital-st", Role.CLIENT: "0001", Role.EXPERT: "EXP-ST",
          Role.OPERATOR: ""}  # fmt: skip
# Addresses of this run's own, so its logins stay apart from every other test's: one per
# call, since the /v1/auth routes share one login budget per address (100 per 15 minutes)
# that a run's positive and negative examples would spend long before their end.
RUN = uuid.uuid4().int % 250
ADDRESS = {"X-Forwarded-For": f"10.{RUN}.250.9"}
CALLS = itertools.count()


def _address() -> dict[str, str]:
    call = next(CALLS)
    return {"X-Forwarded-For": f"10.{RUN}.{call // 250 % 250}.{call % 250}"}


@pytest.fixture(scope="module")
def role_headers(stack_session: Any) -> dict[str, dict[str, str]]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack_session.env.items():
            patch.setenv(key, value)
        return {
            role.value: login(stack_session, register(role, scope))
            for role, scope in SCOPES.items()
        }


# The document the API generates from its routes' models (served at /v1/openapi.json with
# `servers` added); loaded in-process so the tests are generated at collection
# (schemathesis' lazy from_fixture loader does not run on pytest 9). The served copy is
# compared with it below.
DOCUMENT = openapi_document(app)
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> bool:
    """A path id with a newline never reaches the function: the functions host's own router
    (functions-framework's `/<path:path>`) stops at it and answers an HTML 404 of its own.
    Every other negative id (another character, "/", too long) reaches the api's router
    and is answered its declared 404."""
    return not any("\n" in str(value) for value in (path_parameters or {}).values())


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_its_document(
    case: Any, stack_session: Any, role_headers: dict[str, dict[str, str]]
) -> None:
    roles = case.operation.definition.raw.get("x-roles")
    headers = {**_address(), **(role_headers[roles[0]] if roles else {})}
    case.call_and_validate(
        base_url=api_url(stack_session), headers=headers, checks=CHECKS, timeout=30
    )


def test_every_protected_operation_refuses_missing_and_forged_tokens(stack_session: Any) -> None:
    document = requests.get(f"{api_url(stack_session)}/v1/openapi.json", timeout=10).json()
    assert document["paths"] == DOCUMENT["paths"]
    assert document["servers"] == [{"url": "/api_http"}]
    forged = jwt.encode(
        {"sub": "x", "role": "operator", "scope": "", "aud": "saludtech-api",
         "iss": "saludtech-api", "iat": 0, "exp": 2**33},
        "a guessed key that is not ours at all", algorithm="HS256", headers={"kid": "k0"},
    )  # fmt: skip
    protected = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "security" not in operation:
                continue
            protected += 1
            url = api_url(stack_session) + path.replace("{", "").replace("}", "")
            for headers in ({}, {"Authorization": f"Bearer {forged}"}):
                answer = requests.request(method, url, headers={**ADDRESS, **headers}, timeout=10)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.json()["error"]["reason"] in ("missing_token", "invalid_token")
    assert protected >= 20
