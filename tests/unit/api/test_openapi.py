"""The OpenAPI document is generated from the routes' models, so it is true by construction;
these tests hold what construction alone does not: it is OpenAPI 3.1, every route has its
operation and nothing else does, no operation hides its refusals behind `default`, the
limits it declares are the contexts' own models', and the answers the API gives (successes
and refusals, for every role) match the schemas it declares."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from functions.api.app import app
from functions.api.context_doors import DEAD_LETTER_DOORS
from functions.api.routing import POLICIES
from functions.identity.messages import Credentials, NewUser
from functions.subscriptions.messages import (
    CancelSubscription,
    ClientData,
    CreateSubscription,
    PaySubscription,
)
from shared.entrypoints.http_app import openapi_document
from tests.unit.api.conftest import CLIENT_BODY, Answer, Api

DOCUMENT = openapi_document(app)
SCHEMAS = DOCUMENT["components"]["schemas"]


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
    }


def _max_length(schema: str, *path: str) -> int:
    found: dict[str, Any] = SCHEMAS[schema]
    for name in path:
        found = found["properties"][name]
        if "$ref" in found:
            found = SCHEMAS[found["$ref"].rsplit("/", 1)[1]]
    return int(found["maxLength"])


def _model_max_length(model: Any, name: str) -> int:
    return int(
        next(m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length"))
    )


def test_the_document_is_openapi_3_1() -> None:
    import schemathesis

    assert DOCUMENT["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    assert len(list(schema.get_all_operations())) == len(_operations())
    assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_route_has_its_operation_and_every_operation_its_route() -> None:
    routed = {(_openapi_path(rule.rule), method.lower())
              for rule in app.url_map.iter_rules() for method in rule.methods or ()
              if method not in ("HEAD", "OPTIONS")}  # fmt: skip
    assert routed == set(_operations())
    assert len(POLICIES) == len(routed)


def test_no_operation_has_a_catch_all_answer() -> None:
    for key, operation in _operations().items():
        statuses = set(operation["responses"])
        assert "default" not in statuses, key
        assert not any(s.endswith("XX") for s in statuses), key
        assert any(s.startswith("2") for s in statuses), key


def test_protected_operations_declare_bearer_and_their_roles() -> None:
    operations = _operations()
    for endpoint, policy in POLICIES.items():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        operation = operations[(_openapi_path(rule.rule), policy.method.lower())]
        if policy.roles is None:
            assert "security" not in operation and "x-roles" not in operation, endpoint
        else:
            assert operation["security"] == [{"bearerAuth": []}], endpoint
            assert set(operation["x-roles"]) == {r.value for r in policy.roles}, endpoint
            assert {"401", "403"} <= set(operation["responses"]), endpoint


def test_the_limits_in_the_document_are_the_contexts_models() -> None:
    for name in ClientData.model_fields:
        limit = _model_max_length(ClientData, name)
        assert _max_length("CreateSubscriptionBody", "client", name) == limit, name
    assert _max_length("CreateSubscriptionBody", "plan") == _model_max_length(
        CreateSubscription, "plan"
    )
    assert _max_length("CancelBody", "reason") == _model_max_length(CancelSubscription, "reason")
    assert _max_length("PayBody", "card_token") == _model_max_length(PaySubscription, "card_token")
    assert _max_length("Credentials", "username") == _model_max_length(Credentials, "username")
    assert _max_length("NewUser", "email") == _model_max_length(NewUser, "email")
    # The original route's fields are the v1 fields they become.
    assert _max_length("Cliente", "codigo") == _model_max_length(ClientData, "code")
    assert _max_length("Nombre", "nombres") == _model_max_length(ClientData, "first_names")
    contexts = next(
        p["schema"] for p in DOCUMENT["paths"]["/v1/dead-letters"]["get"]["parameters"]
        if p["name"] == "context"
    )  # fmt: skip
    assert set(next(s["enum"] for s in contexts["anyOf"] if "enum" in s)) == set(DEAD_LETTER_DOORS)


def conforms(path: str, method: str, answer: Answer) -> None:
    """The answer's status is one the operation declares, and it matches what is declared
    for it (content type and schema)."""
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert str(answer.status) in responses, (path, answer.status, answer.body)
    content = responses[str(answer.status)].get("content")
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
        ("/v1/live.js", "/v1/live.js", "GET", None, None),
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
        ("/v1/assignments", "/v1/assignments", "GET", None, "expert-a"),
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
        if "security" not in operation:
            continue
        concrete = re.sub(r"{[a-z_]+}", "x-1", path)
        answer = api.call(method.upper(), concrete, {})
        assert answer.status == 401, (method, path)
        conforms(path, method, answer)
