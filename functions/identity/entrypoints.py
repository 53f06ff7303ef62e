"""Cloud Function entry points of the identity context: thin, one hop to the service.

- identity_commands_http: sessions (POST /sessions, /sessions/google, /sessions/refresh,
  /sessions/revoke) and users (POST /users, /users/<user_id>/disable, /enable, /password).
- identity_queries_http: POST /tokens/verify (an access token -> who it speaks for, now)
  and GET /users/<user_id> (a user's own profile).

Both are internal doors (only the api invokes them); messages.py holds their bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask
import functions_framework
from pydantic import BaseModel, ValidationError
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.identity import wiring
from functions.identity.domain import InvalidToken
from functions.identity.messages import (
    Credentials,
    GoogleLogin,
    NewUser,
    PasswordChange,
    RefreshRequest,
    SessionRevoked,
    TokenCheck,
    TokenPair,
    UserCreated,
    UserProfile,
    UserStatus,
)
from functions.identity.service import Identity, UnknownIdentity
from shared.entrypoints.http import (
    HttpError,
    answers_errors,
    json_response,
    match_route,
    read_json_body,
)
from shared.service.pagination import refuse_unknown_parameters

M = TypeVar("M", bound=BaseModel)
Door = Callable[[flask.Request, dict[str, Any], Identity], flask.Response]

_COMMAND_ROUTES = Map(
    [
        Rule("/sessions", endpoint="log_in", methods=["POST"]),
        Rule("/sessions/google", endpoint="google", methods=["POST"]),
        Rule("/sessions/refresh", endpoint="refresh", methods=["POST"]),
        Rule("/sessions/revoke", endpoint="revoke", methods=["POST"]),
        Rule("/users", endpoint="create_user", methods=["POST"]),
        Rule("/users/<user_id>/disable", endpoint="disable", methods=["POST"]),
        Rule("/users/<user_id>/enable", endpoint="enable", methods=["POST"]),
        Rule("/users/<user_id>/password", endpoint="password", methods=["POST"]),
    ],
    strict_slashes=False,
)
_QUERY_ROUTES = Map(
    [
        Rule("/tokens/verify", endpoint="verify", methods=["POST"]),
        Rule("/users/<user_id>", endpoint="user", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _wiring() -> wiring.IdentityWiring:
    return bootstrap.context(wiring.build)


def _body(request: flask.Request, model: type[M]) -> M:
    """The request's body as `model`; a refusal names fields and rules, never the values
    (a password must not come back in an error)."""
    body: Any = read_json_body(request)
    if not isinstance(body, dict):
        raise HttpError(400, "schema_violation", "the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = error.errors(include_input=False)
        where = [".".join(str(p) for p in e["loc"]) or "body" for e in problems]
        detail = "; ".join(
            sorted({f"{w}: {e['type']}" for w, e in zip(where, problems, strict=True)})
        )
        raise HttpError(400, "schema_violation", detail, field=where[0]) from None


def _answer(model: BaseModel, status: int = 200) -> flask.Response:
    return json_response(model.model_dump(mode="json"), status=status)


def _pair(pair: TokenPair | None, status: int, reason: str, detail: str) -> flask.Response:
    if pair is None:
        raise HttpError(status, reason, detail)
    return _answer(pair)


def _log_in(request: flask.Request, _: dict[str, Any], service: Identity) -> flask.Response:
    pair = service.log_in(_body(request, Credentials))
    return _pair(pair, 401, "invalid_credentials", "unknown username or wrong password")


def _google(request: flask.Request, _: dict[str, Any], service: Identity) -> flask.Response:
    try:
        return _answer(service.log_in_with_google(_body(request, GoogleLogin)))
    except InvalidToken as error:
        raise HttpError(401, "invalid_token", "the ID token is not valid") from error
    except UnknownIdentity as error:
        raise HttpError(401, "unknown_identity", "no account is linked to this identity") from error


def _refresh(request: flask.Request, _: dict[str, Any], service: Identity) -> flask.Response:
    pair = service.refresh(_body(request, RefreshRequest).refresh_token)
    return _pair(pair, 401, "invalid_token", "the refresh token is not valid")


def _revoke(request: flask.Request, _: dict[str, Any], service: Identity) -> flask.Response:
    user_id = service.log_out(_body(request, RefreshRequest).refresh_token)
    return _answer(SessionRevoked(user_id=user_id))


def _create_user(request: flask.Request, _: dict[str, Any], service: Identity) -> flask.Response:
    new = _body(request, NewUser)
    return _answer(UserCreated(user_id=service.create_user(new), role=new.role), 201)


def _password(request: flask.Request, args: dict[str, Any], service: Identity) -> flask.Response:
    pair = service.change_password(str(args["user_id"]), _body(request, PasswordChange))
    return _pair(pair, 403, "wrong_password", "the current password is wrong")


def _set_disabled(disabled: bool) -> Door:
    def door(_: flask.Request, args: dict[str, Any], service: Identity) -> flask.Response:
        user_id = str(args["user_id"])
        if not service.set_disabled(user_id, disabled):
            raise HttpError(404, "user_not_found", "no such user")
        return _answer(UserStatus(user_id=user_id, disabled=disabled))

    return door


_COMMANDS: dict[str, Door] = {
    "log_in": _log_in,
    "google": _google,
    "refresh": _refresh,
    "revoke": _revoke,
    "create_user": _create_user,
    "password": _password,
    "disable": _set_disabled(True),
    "enable": _set_disabled(False),
}


@functions_framework.http
@answers_errors
def identity_commands_http(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(_COMMAND_ROUTES, request)
    refuse_unknown_parameters(request.args, set())
    return _COMMANDS[endpoint](request, args, _wiring().identity)


@functions_framework.http
@answers_errors
def identity_queries_http(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(_QUERY_ROUTES, request)
    refuse_unknown_parameters(request.args, set())
    w = _wiring()
    if endpoint == "verify":
        who = w.identity.verify(_body(request, TokenCheck).access_token)
        if who is None:
            raise HttpError(401, "invalid_token", "the access token is not valid")
        return _answer(who)
    profile = w.accounts.profile(str(args["user_id"]))
    if profile is None:
        raise HttpError(404, "user_not_found", "no such user")
    return _answer(UserProfile.model_validate(profile))
