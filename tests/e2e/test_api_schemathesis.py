"""schemathesis against the API's own OpenAPI document, on the local stack: no 5xx, every
response as declared (status, content type, schema), every protected operation refusing a
missing or a forged token. Bounded: a dozen examples per operation (a few hundred calls).

Each operation is called with a token of a role it serves (its `x-roles`), so the data
paths are exercised too, not only the refusals.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks

from functions.api import openapi
from functions.api.principals import Role
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
# One address for the whole run, so its logins stay apart from every other test's.
ADDRESS = {"X-Forwarded-For": f"10.250.{uuid.uuid4().int % 250}.9"}


@pytest.fixture(scope="module")
def role_headers(stack_session: Any) -> dict[str, dict[str, str]]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack_session.env.items():
            patch.setenv(key, value)
        return {
            role.value: login(stack_session, register(role, scope))
            for role, scope in SCOPES.items()
        }


# The document the API serves (openapi.document(), plus `servers`); loaded in-process so
# the tests are generated at collection (schemathesis' lazy from_fixture loader does not
# run on pytest 9). The served copy is compared with it below.
schema = schemathesis.openapi.from_dict(openapi.document())
# Positive examples only: a negative path id with control characters (%0A) never reaches
# the function: functions-framework's own router answers it with an HTML 404. Refusals of
# malformed input are the unit tests' (tests/unit/api/test_input.py, odd ids, bodies).
schema.config.generation.update(modes=[GenerationMode.POSITIVE])


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
    headers = {**ADDRESS, **(role_headers[roles[0]] if roles else {})}
    case.call_and_validate(
        base_url=api_url(stack_session), headers=headers, checks=CHECKS, timeout=30
    )


def test_every_protected_operation_refuses_missing_and_forged_tokens(stack_session: Any) -> None:
    document = requests.get(f"{api_url(stack_session)}/v1/openapi.json", timeout=10).json()
    assert document["paths"] == openapi.document()["paths"]
    forged = jwt.encode(
        {"sub": "x", "role": "operator", "scope": "", "aud": "saludtech-api",
         "iss": "saludtech-api", "iat": 0, "exp": 2**33},
        "a guessed key that is not ours at all", algorithm="HS256", headers={"kid": "k0"},
    )  # fmt: skip
    protected = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not operation["security"]:
                continue
            protected += 1
            url = api_url(stack_session) + path.replace("{", "").replace("}", "")
            for headers in ({}, {"Authorization": f"Bearer {forged}"}):
                answer = requests.request(method, url, headers={**ADDRESS, **headers}, timeout=10)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.json()["error"]["reason"] in ("missing_token", "invalid_token")
    assert protected >= 20
