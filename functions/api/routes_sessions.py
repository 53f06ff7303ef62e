"""Sessions and accounts: the identity context's, asked at its doors (identity_doors.py)
with its own request messages, and answered as it answers (less what only the api needs)."""

from __future__ import annotations

import flask

from functions.api.answers import Tokens
from functions.api.guard import client_address, current
from functions.api.parameters import UserPath
from functions.api.routing import ALL, OPERATOR, Routes
from functions.identity.messages import (
    Credentials,
    GoogleLogin,
    NewUser,
    PasswordChange,
    RefreshRequest,
    TokenPair,
    UserCreated,
    UserProfile,
    UserStatus,
)
from shared.entrypoints.http import HttpError

routes = Routes("sessions", "log in, tokens, your account; operators manage accounts")


def _tokens(pair: TokenPair) -> Tokens:
    current().resource.append(f"user/{pair.user_id}")
    return Tokens.model_validate(pair.model_dump(exclude={"user_id"}))


@routes.post(
    "/v1/auth/login", 200, Tokens, roles=None, limit="login", refused=(401,),
    summary="log in with a password",
)  # fmt: skip
def login(body: Credentials) -> Tokens:
    """Identity throttles failed logins per account and address (or known device: send the
    `device_token` a login answered), 429 login_throttled with Retry-After."""
    call = current()
    address = client_address(flask.request)
    return _tokens(call.wiring.identity.log_in(body, call.correlation_id, address))


@routes.post(
    "/v1/auth/google", 200, Tokens, roles=None, limit="login", refused=(401,),
    summary="log in with a Google-issued ID token of a linked account",
)  # fmt: skip
def google_login(body: GoogleLogin) -> Tokens:
    call = current()
    return _tokens(call.wiring.identity.log_in_with_google(body, call.correlation_id))


@routes.post(
    "/v1/auth/refresh", 200, Tokens, roles=None, limit="session", refused=(401,),
    summary="spend a refresh token for new tokens",
)  # fmt: skip
def refresh(body: RefreshRequest) -> Tokens:
    call = current()
    return _tokens(call.wiring.identity.refresh(body, call.correlation_id))


@routes.post(
    "/v1/auth/logout", 204, None, roles=None, limit="session",
    summary="revoke a refresh token and the account's live access tokens",
)  # fmt: skip
def logout(body: RefreshRequest) -> flask.Response:
    """Identity revokes the refresh token and, early, every live access token of its
    account (the account's other devices refresh theirs)."""
    call = current()
    user_id = call.wiring.identity.revoke(body, call.correlation_id)
    if user_id is not None:
        call.resource.append(f"user/{user_id}")
    return flask.Response(status=204)


@routes.get("/v1/me", UserProfile, roles=ALL, refused=(404,), summary="your account")
def me() -> UserProfile:
    call = current()
    call.resource.append(f"user/{call.principal.user_id}")
    return call.wiring.identity.profile(call.principal.user_id, call.correlation_id)


@routes.post(
    "/v1/me/password", 200, Tokens, roles=ALL,
    summary="change your password: every earlier token is revoked, new ones are answered",
)  # fmt: skip
def change_password(body: PasswordChange) -> Tokens:
    call = current()
    user_id = call.principal.user_id
    call.resource.append(f"user/{user_id}")
    pair = call.wiring.identity.change_password(user_id, body, call.correlation_id)
    return Tokens.model_validate(pair.model_dump(exclude={"user_id"}))


@routes.post("/v1/users", 201, UserCreated, roles=OPERATOR, summary="create an account")
def create_user(body: NewUser) -> UserCreated:
    call = current()
    created = call.wiring.identity.create_user(body, call.correlation_id)
    call.resource.append(f"user/{created.user_id}")
    return created


def _set_disabled(user_id: str, disabled: bool) -> UserStatus:
    call = current()
    call.resource.append(f"user/{user_id}")
    if disabled and user_id == call.principal.user_id:
        raise HttpError(409, "cannot_disable_yourself", "another operator must do it")
    return call.wiring.identity.set_disabled(user_id, disabled, call.correlation_id)


@routes.post(
    "/v1/users/<id:user_id>/disable", 200, UserStatus, roles=OPERATOR, refused=(409,),
    summary="disable an account: its tokens are revoked at once, it cannot log in",
)  # fmt: skip
def disable_user(path: UserPath) -> UserStatus:
    return _set_disabled(path.user_id, True)


@routes.post(
    "/v1/users/<id:user_id>/enable", 200, UserStatus, roles=OPERATOR,
    summary="enable a disabled account",
)  # fmt: skip
def enable_user(path: UserPath) -> UserStatus:
    return _set_disabled(path.user_id, False)
