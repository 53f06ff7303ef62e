"""The OpenAPI document is true: it lists exactly the router's routes, and the answers the
API gives (successes and refusals, for every role) match the schemas it declares."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from functions.api import openapi
from functions.api.routes import ROUTER, ROUTES
from tests.unit.api.conftest import CLIENT_BODY, Answer, Api

DOCUMENT = openapi.document()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<([a-z_]+)>", r"{\1}", rule)


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    routed = {(_openapi_path(rule.rule), method.lower())
              for rule in ROUTER.iter_rules() for method in rule.methods or ()
              if method not in ("HEAD", "OPTIONS")}  # fmt: skip
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routed == documented


def test_protected_routes_declare_bearer_and_their_roles() -> None:
    for route in ROUTES:
        operation = DOCUMENT["paths"][_openapi_path(route.path)][route.method.lower()]
        if route.roles is None:
            assert operation["security"] == [], route.endpoint
        else:
            assert operation["security"] == [{"bearer": []}], route.endpoint
            assert set(operation["x-roles"]) == {r.value for r in route.roles}, route.endpoint


def test_the_document_is_valid_openapi_3_1() -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(DOCUMENT)
    assert len(list(schema.get_all_operations())) == sum(
        len(item) for item in DOCUMENT["paths"].values()
    )


def conforms(path: str, method: str, answer: Answer) -> None:
    """The answer matches what the document declares for this operation and status."""
    operation = DOCUMENT["paths"][path][method.lower()]
    responses = operation["responses"]
    declared = responses.get(str(answer.status)) or responses["default"]
    assert str(answer.status) in responses or answer.status >= 400, (path, answer.status)
    content = declared.get("content")
    if content is None:
        assert answer.raw == b"", (path, answer.status)
        return
    media = answer.headers["Content-Type"].split(";")[0]
    assert media in content, (path, media)
    if media != "application/json":
        return
    schema: dict[str, Any] = {**content[media]["schema"], "components": DOCUMENT["components"]}
    jsonschema_rs.validator_for(schema).validate(answer.body)


def test_answers_of_every_role_match_the_document(api: Api) -> None:
    tokens = {name: api.login(name) for name in ("client-a", "center-a", "expert-a", "operator")}
    accepted = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=tokens["client-a"])
    conforms("/v1/subscriptions", "POST", accepted)
    command = accepted.body["command_id"]
    cases: list[tuple[str, str, str, Any, str | None]] = [
        ("/v1/openapi.json", "/v1/openapi.json", "GET", None, None),
        ("/v1/live", "/v1/live", "GET", None, None),
        ("/v1/auth/login", "/v1/auth/login", "POST", {"username": "client-a", "password": "no"}, None),
        ("/v1/auth/refresh", "/v1/auth/refresh", "POST", {"refresh_token": "nope"}, None),
        ("/v1/auth/logout", "/v1/auth/logout", "POST", {"refresh_token": "nope"}, None),
        ("/v1/auth/google", "/v1/auth/google", "POST", {"id_token": "x"}, None),
        ("/v1/me", "/v1/me", "GET", None, "center-a"),
        ("/v1/users", "/v1/users", "POST", {"username": "new-user", "password": "p" * 20,
                                             "role": "expert", "scope": "EXP-9",
                                             "email": "n@example.com"}, "operator"),
        ("/v1/subscriptions", "/v1/subscriptions", "GET", None, "client-a"),
        ("/v1/subscriptions/{subscription_id}", "/v1/subscriptions/nope", "GET", None, "client-a"),
        ("/v1/subscriptions/{subscription_id}/plan", f"/v1/subscriptions/{accepted.body['subscription_id']}/plan", "POST", {"plan": "BASIC"}, "client-a"),
        ("/v1/subscriptions/{subscription_id}/cancel", "/v1/subscriptions/x/cancel", "POST", {}, "client-a"),
        ("/v1/subscriptions/{subscription_id}/payments", "/v1/subscriptions/x/payments", "POST", {"card_token": "tok_visa"}, "client-a"),
        ("/v1/commands/{command_id}", f"/v1/commands/{command}", "GET", None, "client-a"),
        ("/v1/commands/{command_id}/timeline", f"/v1/commands/{command}/timeline", "GET", None, "client-a"),
        ("/v1/commands/{command_id}/stream", "/v1/commands/nope/stream", "GET", None, "client-a"),
        ("/v1/images", "/v1/images", "GET", None, "center-a"),
        ("/v1/images/{image_id}", "/v1/images/nope", "GET", None, "center-a"),
        ("/v1/quarantine", "/v1/quarantine", "GET", None, "center-a"),
        ("/v1/uploads", "/v1/uploads", "POST", {"file_name": "a.dcm"}, "center-a"),
        ("/v1/assignments", "/v1/assignments", "GET", None, "client-a"),
        ("/v1/notifications", "/v1/notifications", "GET", None, "client-a"),
        ("/v1/data-services", "/v1/data-services", "GET", None, "client-a"),
        ("/v1/dead-letters", "/v1/dead-letters", "GET", None, "operator"),
        ("/v1/audit", "/v1/audit", "GET", None, "operator"),
        ("/v1/sagas", "/v1/sagas", "GET", None, "operator"),
        ("/v1/sagas", "/v1/sagas", "GET", None, "client-a"),
        ("/v1/sagas/{saga_id}", "/v1/sagas/nope", "GET", None, "operator"),
        ("/v1/sagas/{saga_id}/retry", "/v1/sagas/nope/retry", "POST", None, "operator"),
        ("/v1/me/password", "/v1/me/password", "POST", {"current_password": "no", "new_password": "p" * 20}, "center-a"),
        ("/v1/users/{user_id}/disable", "/v1/users/nope/disable", "POST", None, "operator"),
        ("/v1/users/{user_id}/enable", "/v1/users/nope/enable", "POST", None, "operator"),
        ("/suscripciones/suscripcion-comando", "/suscripciones/suscripcion-comando", "POST", {"cliente": {}}, "client-a"),
    ]  # fmt: skip
    for documented, concrete, method, body, user in cases:
        answer = api.call(method, concrete, body, token=tokens[user] if user else None)
        assert answer.status < 500, (concrete, answer.body)
        conforms(documented, method, answer)
    statuses = {
        api.call("GET", "/v1/me").status,
        api.call("GET", "/v1/audit", token=tokens["client-a"]).status,
    }
    assert statuses == {401, 403}


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]))
def test_no_route_answers_anonymous_callers_with_data(api: Api, path: str) -> None:
    for method, operation in DOCUMENT["paths"][path].items():
        if not operation["security"]:
            continue
        concrete = re.sub(r"{[a-z_]+}", "x-1", path)
        answer = api.call(method.upper(), concrete, {})
        assert answer.status == 401, (method, path)
        conforms(path, method, answer)
