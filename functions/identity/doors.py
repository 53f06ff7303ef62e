"""The HTTP doors of the identity context, each a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the bodies and answers of messages.py.

- commands (`identity_commands_http`): sessions (log in, with Google, refresh, revoke) and
  users (create, disable, enable, change a password).
- queries (`identity_queries_http`): who an access token speaks for, now (a POST, so the
  token never sits in a URL or an access log), and a user's own profile.

- contacts (`identity_contacts_http`): a center's email, for the notifications context only
  (its own function, so that only notifications' functions are granted to invoke it:
  infra/topology.yaml cloud.access.notifications).

All are internal doors: only the api invokes the first two. A refusal names fields and rules, never
the values (a password must not come back in an error).
"""

from __future__ import annotations

import flask
from pydantic import BaseModel

from functions import bootstrap
from functions.identity import wiring
from functions.identity.domain import InvalidToken
from functions.identity.messages import (
    CLIENT_ADDRESS,
    CenterContact,
    Credentials,
    GoogleLogin,
    NewUser,
    PasswordChange,
    PrincipalView,
    RefreshRequest,
    SessionRevoked,
    TokenCheck,
    TokenPair,
    UserCreated,
    UserProfile,
    UserStatus,
)
from functions.identity.service import UnknownIdentity
from functions.identity.throttle import LoginThrottled
from shared.entrypoints.door_app import (
    DocumentId,
    NoParameters,
    answer,
    answers,
    door_app,
    or_not_found,
)
from shared.entrypoints.http import HttpError, error_response

commands = door_app(
    "identity commands",
    "Sessions (tokens for credentials, a Google ID token, a refresh token; logout) and "
    "users (create, disable, enable, change a password).",
)
queries = door_app("identity queries", "Who an access token speaks for, now; a user's own profile.")
# Every body route: a bad body, one too large or not JSON, a store that is down.
_BODY_REFUSALS = (400, 413, 415, 503)


def _wiring() -> wiring.IdentityWiring:
    return bootstrap.context(wiring.build)


def _pair(pair: TokenPair | None, status: int, reason: str, detail: str) -> flask.Response:
    if pair is None:
        raise HttpError(status, reason, detail)
    return answer(TokenPair, pair)


class UserPath(BaseModel):
    user_id: DocumentId


# -- commands --------------------------------------------------------------------------------
@commands.post("/sessions", responses=answers(TokenPair, 401, 429, *_BODY_REFUSALS))
def log_in(body: Credentials, query: NoParameters) -> flask.Response:
    """A session for a username (case-insensitive) and its password, with a device token
    for later logins; 429 login_throttled (Retry-After), the password unchecked, after too
    many failures from the caller's address (header X-Client-Address) or device."""
    address = flask.request.headers.get(CLIENT_ADDRESS, "")[:64]
    try:
        pair = _wiring().identity.log_in(body, address)
    except LoginThrottled as throttled:
        detail = "too many failed logins; retry later"
        response = error_response(HttpError(429, "login_throttled", detail))
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    return _pair(pair, 401, "invalid_credentials", "unknown username or wrong password")


@commands.post("/sessions/google", responses=answers(TokenPair, 401, *_BODY_REFUSALS))
def log_in_with_google(body: GoogleLogin, query: NoParameters) -> flask.Response:
    """A session for a Google-issued ID token of an account's linked identity."""
    try:
        return answer(TokenPair, _wiring().identity.log_in_with_google(body))
    except InvalidToken as error:
        raise HttpError(401, "invalid_token", "the ID token is not valid") from error
    except UnknownIdentity as error:
        raise HttpError(401, "unknown_identity", "no account is linked to this identity") from error


@commands.post("/sessions/refresh", responses=answers(TokenPair, 401, *_BODY_REFUSALS))
def refresh_session(body: RefreshRequest, query: NoParameters) -> flask.Response:
    """A new pair for a refresh token, which is spent."""
    pair = _wiring().identity.refresh(body.refresh_token)
    return _pair(pair, 401, "invalid_token", "the refresh token is not valid")


@commands.post("/sessions/revoke", responses=answers(SessionRevoked, *_BODY_REFUSALS))
def revoke_session(body: RefreshRequest, query: NoParameters) -> flask.Response:
    """Log out: the refresh token and the access tokens of its session are revoked."""
    user_id = _wiring().identity.log_out(body.refresh_token)
    return answer(SessionRevoked, SessionRevoked(user_id=user_id))


@commands.post("/users", responses=answers(UserCreated, *_BODY_REFUSALS, status=201))
def create_user(body: NewUser, query: NoParameters) -> flask.Response:
    """An account made by an operator (or tools/accounts.py)."""
    created = UserCreated(user_id=_wiring().identity.create_user(body), role=body.role)
    return answer(UserCreated, created, status=201)


def _set_disabled(user_id: str, disabled: bool) -> flask.Response:
    if not _wiring().identity.set_disabled(user_id, disabled):
        raise HttpError(404, "user_not_found", "no such user")
    return answer(UserStatus, UserStatus(user_id=user_id, disabled=disabled))


@commands.post("/users/<user_id>/disable", responses=answers(UserStatus, 400, 404, 503))
def disable_user(path: UserPath, query: NoParameters) -> flask.Response:
    """Disable an account: its tokens are refused from the next check on."""
    return _set_disabled(path.user_id, True)


@commands.post("/users/<user_id>/enable", responses=answers(UserStatus, 400, 404, 503))
def enable_user(path: UserPath, query: NoParameters) -> flask.Response:
    """Enable an account again."""
    return _set_disabled(path.user_id, False)


@commands.post("/users/<user_id>/password", responses=answers(TokenPair, 403, *_BODY_REFUSALS))
def change_password(path: UserPath, body: PasswordChange, query: NoParameters) -> flask.Response:
    """The caller's own password, checked before the change: every earlier token is
    revoked, and a new pair answered."""
    pair = _wiring().identity.change_password(path.user_id, body)
    return _pair(pair, 403, "wrong_password", "the current password is wrong")


# -- queries ---------------------------------------------------------------------------------
@queries.post("/tokens/verify", responses=answers(PrincipalView, 401, *_BODY_REFUSALS))
def verify_token(body: TokenCheck, query: NoParameters) -> flask.Response:
    """Who an access token speaks for, still now (not revoked early by a logout, a password
    change or a disabled account)."""
    who = _wiring().identity.verify(body.access_token)
    if who is None:
        raise HttpError(401, "invalid_token", "the access token is not valid")
    return answer(PrincipalView, who)


@queries.get("/users/<user_id>", responses=answers(UserProfile, 400, 404, 503))
def user_profile(path: UserPath, query: NoParameters) -> flask.Response:
    """What a user sees of their own account (sealed fields opened)."""
    profile = _wiring().accounts.profile(path.user_id)
    return answer(UserProfile, or_not_found(profile, "user_not_found", "no such user"))


# -- contacts: for the notifications context only ---------------------------------------------
contacts = door_app(
    "identity contacts",
    "How a center is reached (its account's email): for the notifications context only.",
)


class CenterPath(BaseModel):
    center_id: DocumentId


@contacts.get("/centers/<center_id>/contact", responses=answers(CenterContact, 400, 404, 503))
def center_contact(path: CenterPath, query: NoParameters) -> flask.Response:
    """A center's email: its oldest enabled account's (never a national id)."""
    found = _wiring().accounts.center_contact(path.center_id)
    return answer(CenterContact, or_not_found(found, "center_not_found", "no such center"))
