"""The `api` Cloud Function: the only public door, versioned under /v1.

Every request goes the same way: route, then (for a protected route) the bearer token,
the caller's role, the per-user-and-route rate limit, and only then the endpoint
(endpoints.py), which validates and calls the contexts. Data reads and changes are written
to the audit log with their outcome. Public routes (login, the OpenAPI document, the live
page) are limited per client address, logins also per account.
"""

from __future__ import annotations

import hashlib

import flask
import functions_framework

from functions import bootstrap
from functions.api import live_page, openapi, wiring
from functions.api.audit import Action
from functions.api.endpoints import ENDPOINTS, Call, json_body
from functions.api.principals import Principal
from functions.api.rate_limits import Decision
from functions.api.routes import BY_ENDPOINT, ROUTER, Route
from shared.domain.errors import PermanentError, TransientError
from shared.entrypoints.http import (
    HttpError,
    answers_errors,
    error_response,
    match_route,
)
from shared.logging import bind_message_context, get_logger
from shared.ports.envelope import plain_token

log = get_logger(__name__)
LOGIN_WINDOW_SECONDS = 15 * 60
MINUTE = 60


class Refused(HttpError):
    """An error answered with extra headers (Retry-After, WWW-Authenticate)."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict[str, str]) -> None:
        super().__init__(status, reason, detail)
        self.headers = headers


def _wiring() -> wiring.ApiWiring:
    return bootstrap.context(wiring.build)


def client_address(request: flask.Request) -> str:
    """The caller's address: in the cloud, Google's front end appends the address it saw
    as the last X-Forwarded-For entry (earlier entries are whatever the client sent)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    return last[:64] or request.remote_addr or "unknown"


def _enforce(decision: Decision) -> None:
    if not decision.allowed:
        raise Refused(
            429,
            "rate_limited",
            "too many requests; retry later",
            {"Retry-After": str(decision.retry_after_seconds)},
        )


def _authenticate(request: flask.Request, w: wiring.ApiWiring) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="saludtech"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "missing_token", "send Authorization: Bearer <token>", challenge)
    # One call to identity, which checks the token and, against early revocation (logout,
    # password change, account disabled), reads the account once.
    correlation_id = plain_token(request.headers.get("X-Correlation-ID", ""))
    who = w.identity.principal(token.strip(), correlation_id)
    if who is None:
        raise Refused(401, "invalid_token", "the access token is not valid", challenge)
    return who


def _limit(
    route: Route, request: flask.Request, who: Principal | None, w: wiring.ApiWiring
) -> None:
    settings = w.platform.settings
    if who is not None:
        per_minute = (
            settings.api_commands_per_minute
            if route.limit == "command"
            else settings.api_queries_per_minute
        )
        _enforce(w.limiter.hit(f"user:{who.user_id}", route.endpoint, per_minute, MINUTE))
        return
    address = client_address(request)
    if route.limit == "login":
        _enforce(
            w.limiter.hit(
                f"address:{address}",
                "login",
                settings.api_login_attempts_per_address,
                LOGIN_WINDOW_SECONDS,
            )
        )
        return
    per_minute = settings.api_queries_per_minute
    _enforce(w.limiter.hit(f"address:{address}", route.endpoint, per_minute, MINUTE))


def _limit_account(request: flask.Request, w: wiring.ApiWiring) -> None:
    """Logins per account: counted before the password is checked, so guessing one
    account's password from many addresses is limited too."""
    username = json_body(request).get("username")
    if isinstance(username, str) and username:
        key = hashlib.sha256(username.lower().encode()).hexdigest()
        _enforce(
            w.limiter.hit(
                f"account:{key}",
                "login",
                w.platform.settings.api_login_attempts_per_account,
                LOGIN_WINDOW_SECONDS,
            )
        )


def _serve(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(ROUTER, request)
    route = BY_ENDPOINT[endpoint]
    w = _wiring()
    correlation_id = plain_token(request.headers.get("X-Correlation-ID", ""))
    bind_message_context(function="api", correlation_id=correlation_id, message_type=endpoint)
    who = _authenticate(request, w) if route.roles is not None else None
    _limit(route, request, who, w)
    if endpoint == "openapi":
        return openapi.response(request)
    if endpoint in ("live_page", "live_script"):
        return live_page.response(endpoint)
    if endpoint == "login":
        _limit_account(request, w)
    call = Call(request=request, who=who, args=args, wiring=w, resource=[])
    status = 500
    try:
        if who is not None and route.roles is not None and who.role not in route.roles:
            raise HttpError(403, "forbidden", "your role may not use this route")
        response = ENDPOINTS[endpoint](call)
        status = response.status_code
        return response
    except HttpError as error:
        status = error.status
        raise
    except PermanentError as error:
        status = HttpError.bad_request(error).status
        raise
    except TransientError:
        status = 503
        raise
    finally:
        # Every attempt on data by someone known (refusals included), and every login.
        if who is not None or route.limit == "login":
            action: Action = "read" if route.method == "GET" else "change"
            if route.limit == "login":
                action = "login"
            w.audit.record(who, action, ",".join(call.resource) or endpoint, status, correlation_id)


@functions_framework.http
@answers_errors
def api_http(request: flask.Request) -> flask.Response:
    try:
        return _serve(request)
    except Refused as refused:
        response = error_response(refused)
        response.headers.update(refused.headers)
        return response
