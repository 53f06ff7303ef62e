"""The OpenAPI 3.1 document of the public API, served at /v1/openapi.json.

Written out path by path, not generated from the router, so that the unit test comparing
the two (tests/unit/api/test_openapi.py) catches a route added to one and not the other;
the same tests validate every response they get against these schemas, and schemathesis
runs against the document on the local stack (tests/e2e/test_api_schemathesis.py).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import flask

from functions.api.context_doors import DEAD_LETTER_DOORS

_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.:@+=-]{1,200}$"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 256}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_SAGA_STATUSES = ["RUNNING", "COMPLETED", "COMPENSATING", "COMPENSATED", "STUCK"]
_DEAD_LETTER_CONTEXT = {
    "name": "context", "in": "query", "schema": {"enum": sorted(DEAD_LETTER_DOORS)}
}  # fmt: skip


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(
    required: list[str], properties: dict[str, Any], closed: bool = False
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return schema


SCHEMAS: dict[str, Any] = {
    "Error": _object(
        ["error"],
        {
            "error": _object(
                ["reason", "detail"],
                {
                    "reason": {"type": "string"},
                    "detail": {"type": "string"},
                    "field": {"type": "string"},
                },
            )
        },
    ),
    "Tokens": _object(
        ["token_type", "access_token", "expires_in", "refresh_token", "role"],
        {
            "token_type": {"const": "Bearer"},
            "access_token": {"type": "string"},
            "expires_in": {"type": "integer"},
            "refresh_token": {"type": "string"},
            "role": {"enum": ["center", "client", "expert", "operator"]},
        },
    ),
    "Page": _object(
        ["items", "next_cursor"],
        {"items": {"type": "array", "items": {"type": "object"}}, "next_cursor": _NULLABLE_TEXT},
    ),
    "Profile": _object(
        ["user_id", "username", "role", "scope", "email", "national_id", "created_at"],
        {
            name: {"type": "string"}
            for name in (
                "user_id",
                "username",
                "role",
                "scope",
                "email",
                "national_id",
                "created_at",
            )
        },
    ),
    "CreatedUser": _object(["user_id", "role"], {"user_id": _ID, "role": {"type": "string"}}),
    "Accepted": _object(
        ["command_id", "command_type", "subscription_id", "correlation_id", "status", "links"],
        {
            "command_id": {"type": "string"},
            "command_type": {"type": "string"},
            "subscription_id": {"type": "string"},
            "correlation_id": {"type": "string"},
            "status": {"const": "accepted"},
            "links": _object(
                ["command", "timeline", "stream", "subscription"],
                {k: {"type": "string"} for k in ("command", "timeline", "stream", "subscription")},
            ),
        },
    ),
    "UserState": _object(
        ["user_id", "disabled"], {"user_id": _ID, "disabled": {"type": "boolean"}}
    ),
    "Saga": _object(
        ["saga_id", "definition", "subscription_id", "status", "started_at", "steps"],
        {
            "saga_id": {"type": "string"},
            "definition": {"type": "string"},
            "subscription_id": {"type": "string"},
            "client_code": {"type": "string"},
            "correlation_id": {"type": "string"},
            "status": {"enum": _SAGA_STATUSES},
            "started_at": {"type": "string"},
            "deadline_at": _NULLABLE_TEXT,
            "ended_at": _NULLABLE_TEXT,
            "failed_step": _NULLABLE_TEXT,
            "failure": _NULLABLE_TEXT,
            "steps": {"type": "array", "items": {"type": "object"}},
            "version": {"type": "integer"},
        },
    ),
    "SagaLog": _object(
        ["items", "next_cursor"],
        {
            "items": {
                "type": "array",
                "items": _object(
                    ["saga_id", "seq", "at", "step", "status"],
                    {
                        "saga_id": {"type": "string"},
                        "seq": {"type": "integer"},
                        "at": {"type": "string"},
                        "step": {"type": "string"},
                        "phase": {"type": "string"},
                        "status": {"enum": ["RECEIVED", "PROCESSED", "FAILED"]},
                        "message_id": _NULLABLE_TEXT,
                        "message_type": _NULLABLE_TEXT,
                        "command_ids": {"type": "array", "items": {"type": "string"}},
                        "reason": _NULLABLE_TEXT,
                    },
                ),
            },
            "next_cursor": _NULLABLE_TEXT,
        },
    ),
    "SagaRetryAccepted": _object(
        ["command_id", "command_type", "saga_id", "status", "links"],
        {
            "command_id": {"type": "string"},
            "command_type": {"type": "string"},
            "saga_id": {"type": "string"},
            "status": {"const": "accepted"},
            "saga_status": {"enum": _SAGA_STATUSES},
            "links": _object(
                ["command", "saga"], {k: {"type": "string"} for k in ("command", "saga")}
            ),
        },
    ),
    "CommandStatus": _object(
        ["command_id", "status"],
        {
            "command_id": {"type": "string"},
            "command_type": _NULLABLE_TEXT,
            "status": {"enum": ["pending", "applied", "rejected", "dead_lettered"]},
            "reason": _NULLABLE_TEXT,
            "event_types": {"type": "array", "items": {"type": "string"}},
        },
    ),
    "Subscription": _object(
        ["subscription_id", "client", "plan", "status", "created_at"],
        {
            "subscription_id": {"type": "string"},
            "client": _object(["code"], {"code": {"type": "string"}}),
            "plan": {"type": "string"},
            "status": {"type": "string"},
            "created_at": {"type": "string"},
            "invoices": {"type": "array"},
        },
    ),
    "Timeline": _object(
        ["command", "subscription", "saga", "notifications"],
        {
            "command": _ref("CommandStatus"),
            "subscription": {"oneOf": [_ref("Subscription"), {"type": "null"}]},
            "saga": _object(
                ["available", "steps"],
                {"available": {"type": "boolean"}, "steps": {"type": "array"}},
            ),
            "notifications": _object(
                ["available", "items"],
                {"available": {"type": "boolean"}, "items": {"type": "array"}},
            ),
        },
    ),
    "Image": _object(
        ["image_id", "data_source", "modality"],
        {
            "image_id": {"type": "string"},
            "data_source": {"type": "string"},
            "modality": _NULLABLE_TEXT,
        },
    ),
    "UploadGrant": _object(
        ["method", "url", "headers", "object", "expires_at"],
        {
            "method": {"const": "PUT"},
            "url": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "object": {"type": "string"},
            "expires_at": {"type": "string"},
        },
    ),
    "Client": _object(
        ["code", "first_names", "last_names", "username", "rut", "national_id", "email"],
        {
            name: _TEXT
            for name in (
                "code",
                "first_names",
                "last_names",
                "username",
                "rut",
                "national_id",
                "email",
            )
        },
        closed=True,
    ),
}
_BODIES: dict[str, Any] = {
    "Login": _object(["username", "password"], {"username": _TEXT, "password": _TEXT}, True),
    "GoogleLogin": _object(["id_token"], {"id_token": {"type": "string"}}, True),
    "RefreshToken": _object(["refresh_token"], {"refresh_token": _TEXT}, True),
    "NewPassword": _object(
        ["current_password", "new_password"],
        {"current_password": _TEXT, "new_password": _TEXT},
        True,
    ),
    "NewUser": _object(
        ["username", "password", "role", "email"],
        {
            "username": _TEXT,
            "password": _TEXT,
            "email": _TEXT,
            "scope": {"type": "string"},
            "role": {"enum": ["center", "client", "expert", "operator"]},
            "national_id": {"type": "string"},
            "google_subject": {"type": "string"},
        },
        True,
    ),
    "CreateSubscription": _object(
        ["client", "plan"], {"client": _ref("Client"), "plan": _TEXT}, True
    ),
    "ChangePlan": _object(["plan"], {"plan": _TEXT}, True),
    "Cancel": _object([], {"reason": {"type": "string", "maxLength": 200}}, True),
    "Pay": _object(["card_token"], {"card_token": _TEXT}, True),
    "Upload": _object(["file_name"], {"file_name": _TEXT}, True),
    "SuscripcionComando": _object(
        ["cliente", "plan"],
        {
            "cliente": _object(
                ["codigo", "nombre", "usuario", "rut", "cedula", "email"],
                {
                    "codigo": _TEXT,
                    "usuario": _TEXT,
                    "email": _TEXT,
                    "nombre": _object(
                        ["nombres", "apellidos"], {"nombres": _TEXT, "apellidos": _TEXT}, True
                    ),
                    "rut": _object(["numero"], {"numero": {"type": ["string", "integer"]}}, True),
                    "cedula": _object(
                        ["numero"], {"numero": {"type": ["string", "integer"]}}, True
                    ),
                },
                True,
            ),
            "plan": _object(["codigo"], {"codigo": _TEXT, "nombre": {"type": "string"}}, True),
            "facturas": {"type": "array", "maxItems": 0},
        },
        True,
    ),
}
SCHEMAS.update(_BODIES)
_ERROR = {
    "description": "refused: the reason says why",
    "content": {"application/json": {"schema": _ref("Error")}},
}
_PAGED = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 2048}},
]
_IMAGE_FILTERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "maxLength": 64}}
    for name in ("modality", "anatomical_region", "pathology", "ingested_from", "ingested_to")
]
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "maxLength": 128},
}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _op(  # noqa: PLR0917 (one row of the table per call reads best positionally)
    summary: str,
    roles: list[str] | None,
    status: str,
    answer: dict[str, Any] | None,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    media: str = "application/json",
) -> dict[str, Any]:
    success: dict[str, Any] = {"description": summary}
    if answer is not None:
        success["content"] = {media: {"schema": answer}}
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {status: success, "default": _ERROR},
        "security": [{"bearer": []}] if roles else [],
    }
    if roles:
        operation["x-roles"] = roles
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if parameters:
        operation["parameters"] = parameters
    return operation


_ANY, _CLIENT, _CENTER = ["center", "client", "expert", "operator"], ["client"], ["center"]
_SUB, _CMD = _path_id("subscription_id"), _path_id("command_id")
_PAGE = _ref("Page")


def _paths() -> dict[str, Any]:
    return {
        "/v1/openapi.json": {"get": _op("this document", None, "200", {"type": "object"})},
        "/v1/live": {
            "get": _op("the live page", None, "200", {"type": "string"}, media="text/html")
        },
        "/v1/live.js": {
            "get": _op(
                "the live page's script", None, "200", {"type": "string"}, media="text/javascript"
            )
        },
        "/v1/auth/login": {
            "post": _op("log in with a password", None, "200", _ref("Tokens"), "Login")
        },
        "/v1/auth/google": {
            "post": _op(
                "log in with a Google-issued ID token", None, "200", _ref("Tokens"), "GoogleLogin"
            )
        },
        "/v1/auth/refresh": {
            "post": _op(
                "spend a refresh token for new tokens", None, "200", _ref("Tokens"), "RefreshToken"
            )
        },
        "/v1/auth/logout": {
            "post": _op(
                "revoke a refresh token and the account's live access tokens",
                None,
                "204",
                None,
                "RefreshToken",
            )
        },
        "/v1/me": {"get": _op("your account", _ANY, "200", _ref("Profile"))},
        "/v1/me/password": {
            "post": _op(
                "change your password: every earlier token is revoked, new ones are answered",
                _ANY,
                "200",
                _ref("Tokens"),
                "NewPassword",
            )
        },
        "/v1/users": {
            "post": _op("create an account", ["operator"], "201", _ref("CreatedUser"), "NewUser")
        },
        "/v1/users/{user_id}/disable": {
            "post": _op(
                "disable an account: its tokens are revoked at once, it cannot log in",
                ["operator"],
                "200",
                _ref("UserState"),
                None,
                [_path_id("user_id")],
            )
        },
        "/v1/users/{user_id}/enable": {
            "post": _op(
                "enable a disabled account",
                ["operator"],
                "200",
                _ref("UserState"),
                None,
                [_path_id("user_id")],
            )
        },
        "/v1/subscriptions": {
            "post": _op(
                "subscribe (CreateSubscription)",
                _CLIENT,
                "202",
                _ref("Accepted"),
                "CreateSubscription",
                [_IDEMPOTENCY],
            ),
            "get": _op("your subscriptions, newest first", _CLIENT, "200", _PAGE, None, _PAGED),
        },
        "/v1/subscriptions/{subscription_id}": {
            "get": _op(
                "one of your subscriptions", _CLIENT, "200", _ref("Subscription"), None, [_SUB]
            ),
        },
        "/v1/subscriptions/{subscription_id}/plan": {
            "post": _op(
                "change plan (ChangePlan)",
                _CLIENT,
                "202",
                _ref("Accepted"),
                "ChangePlan",
                [_SUB, _IDEMPOTENCY],
            ),
        },
        "/v1/subscriptions/{subscription_id}/cancel": {
            "post": _op(
                "cancel (CancelSubscription)",
                _CLIENT,
                "202",
                _ref("Accepted"),
                "Cancel",
                [_SUB, _IDEMPOTENCY],
            ),
        },
        "/v1/subscriptions/{subscription_id}/payments": {
            "post": _op(
                "pay (PaySubscription)",
                _CLIENT,
                "202",
                _ref("Accepted"),
                "Pay",
                [_SUB, _IDEMPOTENCY],
            ),
        },
        "/v1/commands/{command_id}": {
            "get": _op(
                "what became of a command you sent",
                _ANY,
                "200",
                _ref("CommandStatus"),
                None,
                [_CMD],
            ),
        },
        "/v1/commands/{command_id}/timeline": {
            "get": {
                **_op(
                    "the command, its subscription, saga and notifications",
                    _ANY,
                    "200",
                    _ref("Timeline"),
                    None,
                    [_CMD, {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                ),
            },
        },
        "/v1/commands/{command_id}/stream": {
            "get": _op(
                "the timeline as server-sent events",
                _ANY,
                "200",
                {"type": "string"},
                None,
                [_CMD],
                media="text/event-stream",
            ),
        },
        "/v1/images": {
            "get": _op(
                "your catalogue entries, newest first",
                _CENTER,
                "200",
                _PAGE,
                None,
                _IMAGE_FILTERS + _PAGED,
            ),
        },
        "/v1/images/{image_id}": {
            "get": _op(
                "one of your catalogue entries",
                _CENTER,
                "200",
                _ref("Image"),
                None,
                [_path_id("image_id")],
            ),
        },
        "/v1/quarantine": {
            "get": _op("your quarantined uploads", _CENTER, "200", _PAGE, None, _PAGED)
        },
        "/v1/uploads": {
            "post": _op(
                "a signed upload URL under your prefix",
                _CENTER,
                "201",
                _ref("UploadGrant"),
                "Upload",
            )
        },
        "/v1/data-services": {
            "get": _op("your data services", _CLIENT, "200", _PAGE, None, _PAGED)
        },
        "/v1/notifications": {
            "get": _op("what you were told, newest first", _CLIENT, "200", _PAGE, None, _PAGED)
        },
        "/v1/assignments": {"get": _op("your assignments", ["expert"], "200", _PAGE, None, _PAGED)},
        "/v1/dead-letters": {
            "get": _op(
                "every context's dead letters merged newest first, or one context's; a "
                "cursor continues the listing it came from",
                ["operator"],
                "200",
                _PAGE,
                None,
                [_DEAD_LETTER_CONTEXT, *_PAGED],
            )
        },
        "/v1/audit": {
            "get": _op("who read or changed what", ["operator"], "200", _PAGE, None, _PAGED)
        },
        "/v1/sagas": {
            "get": _op(
                "sagas newest first: an operator's by status (STUCK by default) or by "
                "subscription; a client's by one of its subscriptions",
                ["client", "operator"],
                "200",
                _PAGE,
                None,
                [
                    {"name": "subscription_id", "in": "query", "schema": _ID},
                    {"name": "status", "in": "query", "schema": {"enum": _SAGA_STATUSES}},
                    *_PAGED,
                ],
            )
        },
        "/v1/sagas/{saga_id}": {
            "get": _op(
                "a saga with its log (RECEIVED / PROCESSED / FAILED, oldest first)",
                ["client", "operator"],
                "200",
                {"allOf": [_ref("Saga"), _object(["log"], {"log": _ref("SagaLog")})]},
                None,
                [
                    _path_id("saga_id"),
                    {
                        "name": "log_limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {"name": "log_cursor", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/v1/sagas/{saga_id}/retry": {
            "post": _op(
                "retry a STUCK saga's compensations (RetrySaga)",
                ["operator"],
                "202",
                _ref("SagaRetryAccepted"),
                None,
                [_path_id("saga_id")],
            )
        },
        "/suscripciones/suscripcion-comando": {
            "post": _op(
                "the original design's CreateSubscription (nested, Spanish)",
                _CLIENT,
                "202",
                _ref("Accepted"),
                "SuscripcionComando",
                [_IDEMPOTENCY],
            ),
        },
    }


@cache
def document() -> dict[str, Any]:
    paths = _paths()
    paths["/v1/commands/{command_id}/timeline"]["get"]["responses"]["304"] = {
        "description": "unchanged since the ETag sent in If-None-Match"
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "SaludTech de los Alpes API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def response(request: flask.Request) -> flask.Response:
    served = {**document(), "servers": [{"url": request.script_root or "/"}]}
    return flask.Response(json.dumps(served), mimetype="application/json")
