"""How a route of the api is declared: once, with everything about it.

    routes = Routes("sessions", "log in, tokens, accounts")

    @routes.post("/v1/users/<id:user_id>/disable", 200, UserStatus,
                 roles=OPERATOR, refused=(409,), summary="disable an account")
    def disable_user(path: UserPath) -> UserStatus: ...

The path, the path / query / header / body models (the view's annotations) and the answer
go to flask-openapi3, which validates the request and writes the operation into the
generated document. The roles and the limit kind become the route's Policy, which the guard
(guard.py) applies before the models are read: bearer token, rate limit, role, unknown query
parameters. The refusals the guard and the framework can answer are declared here from the
policy and the rule, so a route lists only its own (404, 409...): no catch-all `default`.

A view answers a model (sent as JSON with the declared status), a model `With` headers, or a
flask Response of its own (no content, a stream, a page).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_type_hints

import flask
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from pydantic import BaseModel
from werkzeug.routing import BaseConverter, ValidationError

from functions.identity.messages import Role
from shared.entrypoints.http import json_response
from shared.entrypoints.http_app import refusals
from shared.ports.documents import DOCUMENT_ID_PATTERN, is_document_id

# "login": a login, per client address; "session": a refresh token spent or revoked, per
# client address in a bucket of its own (others' failed logins never refuse one).
Limit = Literal["query", "command", "login", "session", "public"]
Roles = frozenset[Role]
View = TypeVar("View", bound=Callable[..., Any])
SECURITY_SCHEME = "bearerAuth"
_KIND_OF_METHOD: dict[str, Limit] = {"GET": "query", "POST": "command"}

ALL: Roles = frozenset(Role)
CLIENT: Roles = frozenset({Role.CLIENT})
CENTER: Roles = frozenset({Role.CENTER})
EXPERT: Roles = frozenset({Role.EXPERT})
OPERATOR: Roles = frozenset({Role.OPERATOR})
CLIENT_OR_OPERATOR: Roles = frozenset({Role.CLIENT, Role.OPERATOR})


class DocumentIdConverter(BaseConverter):
    """`<id:name>`: an id that is no document id of ours ("..", "__x__", "a/b", 201
    characters) matches no route, a 404 before anything else is asked."""

    regex = DOCUMENT_ID_PATTERN.removeprefix("^").removesuffix("$")

    def to_python(self, value: str) -> str:
        if not is_document_id(value):
            raise ValidationError()
        return value


@dataclass(frozen=True)
class Policy:
    """What the guard applies to a route before its view runs."""

    name: str  # the rate limit's route key and the audit log's resource when none is named
    method: str
    roles: Roles | None  # None: a public route
    limit: Limit
    query: frozenset[str]  # the query parameters the route's model names


@dataclass(frozen=True)
class With:
    """An answer with headers of its own (Location, ETag)."""

    model: BaseModel
    headers: Mapping[str, str] = field(default_factory=dict)


POLICIES: dict[str, Policy] = {}  # flask endpoint -> its policy


def _query_names(view: Callable[..., Any]) -> frozenset[str]:
    query = get_type_hints(view).get("query")
    if query is None:
        return frozenset()
    return frozenset(f.alias or name for name, f in query.model_fields.items())


def _answering(view: Callable[..., Any], status: int) -> Callable[..., flask.Response]:
    """The view as the framework calls it: its model answered as JSON with `status`."""

    @functools.wraps(view)  # the framework reads the view's annotations through it
    def answering(**kwargs: Any) -> flask.Response:
        reply = view(**kwargs)
        if isinstance(reply, flask.Response):
            return reply
        if isinstance(reply, With):
            return json_response(reply.model.model_dump(mode="json"), status, reply.headers)
        return json_response(reply.model_dump(mode="json"), status)

    return answering


class Routes:
    """One area's routes: a flask-openapi3 blueprint (app.py registers it) whose every
    operation carries its policy."""

    def __init__(self, name: str, description: str) -> None:
        self.blueprint = APIBlueprint(
            name, __name__, abp_tags=[Tag(name=name, description=description)]
        )

    def get(
        self, rule: str, answer: type[BaseModel] | dict[str, Any], *, roles: Roles | None,
        summary: str, refused: Iterable[int] = (), limit: Limit | None = None,
        extra: Mapping[int, type[BaseModel] | dict[str, Any] | None] | None = None,
    ) -> Callable[[View], View]:  # fmt: skip
        return self._route("GET", rule, 200, answer, roles, summary, refused, limit, extra)

    def post(
        self, rule: str, status: int, answer: type[BaseModel] | dict[str, Any] | None, *,
        roles: Roles | None, summary: str, refused: Iterable[int] = (), limit: Limit | None = None,
        extra: Mapping[int, type[BaseModel] | dict[str, Any] | None] | None = None,
    ) -> Callable[[View], View]:  # fmt: skip
        return self._route("POST", rule, status, answer, roles, summary, refused, limit, extra)

    def _route(  # noqa: PLR0917 (get and post above name every argument)
        self,
        method: str,
        rule: str,
        status: int,
        answer: type[BaseModel] | dict[str, Any] | None,
        roles: Roles | None,
        summary: str,
        refused: Iterable[int],
        limit: Limit | None,
        extra: Mapping[int, type[BaseModel] | dict[str, Any] | None] | None,
    ) -> Callable[[View], View]:
        kind: Limit = limit or ("public" if roles is None else _KIND_OF_METHOD[method])
        statuses = {400, 429, *refused}  # a model or an unknown parameter; the limits
        if roles is not None:
            statuses |= {401, 403, 503}  # the token (identity asked: 503 when it is down)
        if kind in {"login", "session"}:
            statuses |= {503}  # identity
        if "<" in rule:
            statuses |= {404}  # an id of nothing (or no id of ours)
        if method == "POST":
            statuses |= {413, 415}  # the body
        responses: dict[int, Any] = {
            status: answer,
            **dict(extra or {}),
            **refusals(*sorted(statuses)),
        }
        options: dict[str, Any] = {
            "responses": responses,
            "summary": summary,
            "provide_automatic_options": False,
        }
        if roles is not None:
            options["security"] = [{SECURITY_SCHEME: []}]
            options["openapi_extensions"] = {"x-roles": sorted(role.value for role in roles)}

        def declare(view: View) -> View:
            name = view.__name__
            # The name is the operationId and the rate limit's route key: one per route.
            assert all(p.name != name for p in POLICIES.values()), f"{name} is declared twice"
            endpoint = f"{self.blueprint.name}.{name}"
            POLICIES[endpoint] = Policy(name, method, roles, kind, _query_names(view))
            register = self.blueprint.get if method == "GET" else self.blueprint.post
            register(rule, operation_id=name, **options)(_answering(view, status))
            return view

        return declare
