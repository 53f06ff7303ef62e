"""What every request to the api goes through, as its route's Policy (routing.py) says.

Before the view (and before its models read the request, so a caller who may not use a
route learns nothing of its schema): the bearer token, asked of identity; the rate limit,
per user and route (a public route: per client address; logins and refresh tokens each in a
bucket of their own; failed logins are throttled by identity, which knows the outcome:
functions/identity/throttle.py); the role (403 forbidden); unknown query parameters (400).
After it: the audit entry of every attempt on data by someone known, refusals included,
and of every login, with the status it was answered. A request refused by its token or a
rate limit is not audited: a burst would write the audit log at the rate it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flask
from flask_openapi3.openapi import OpenAPI

from functions import bootstrap
from functions.api.answers import Refused
from functions.api.audit import Action
from functions.api.principals import Principal
from functions.api.rate_limits import Decision
from functions.api.routing import POLICIES, Policy
from functions.api.wiring import ApiWiring, build
from shared.entrypoints.http import HttpError, error_response
from shared.logging import bind_message_context
from shared.ports.envelope import plain_token
from shared.service.pagination import refuse_unknown_parameters

LOGIN_WINDOW_SECONDS = 15 * 60
MINUTE = 60


@dataclass
class Call:
    """The request as the views see it: who is calling, through what wiring."""

    policy: Policy
    who: Principal | None
    wiring: ApiWiring
    correlation_id: str
    # What the audit log records as the resource this call touched.
    resource: list[str] = field(default_factory=list)
    audited: bool = False

    @property
    def principal(self) -> Principal:
        assert self.who is not None  # the guard refuses anonymous calls of protected routes
        return self.who


def current() -> Call:
    """The call being answered (set by the guard before any view runs)."""
    call: Call = flask.g.call
    return call


def _wiring() -> ApiWiring:
    return bootstrap.context(build)


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


def _authenticate(request: flask.Request, w: ApiWiring, correlation_id: str) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="saludtech"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "missing_token", "send Authorization: Bearer <token>", challenge)
    # One call to identity, which checks the token and, against early revocation (logout,
    # password change, account disabled), reads the account once: the role and scope the
    # request acts with are that account's as read now, never claims of the token (a token
    # names its account and token version only; one signed with a leaked key grants no more).
    who = w.identity.principal(token.strip(), correlation_id)
    if who is None:
        raise Refused(401, "invalid_token", "the access token is not valid", challenge)
    return who


def _limit(policy: Policy, request: flask.Request, who: Principal | None, w: ApiWiring) -> None:
    settings = w.platform.settings
    if who is not None:
        per_minute = (
            settings.api_commands_per_minute
            if policy.limit == "command"
            else settings.api_queries_per_minute
        )
        _enforce(w.limiter.hit(f"user:{who.user_id}", policy.name, per_minute, MINUTE))
        return
    address = client_address(request)
    if policy.limit in {"login", "session"}:
        # Per address only, logins and refresh tokens in separate buckets: failed logins are
        # throttled per account by identity (functions/identity/throttle.py), where the
        # outcome is known, and never refuse a valid refresh token.
        per_address = (
            settings.api_login_attempts_per_address
            if policy.limit == "login"
            else settings.api_session_calls_per_address
        )
        bucket = f"address:{address}"
        _enforce(w.limiter.hit(bucket, policy.limit, per_address, LOGIN_WINDOW_SECONDS))
        return
    per_minute = settings.api_queries_per_minute
    _enforce(w.limiter.hit(f"address:{address}", policy.name, per_minute, MINUTE))


def guard() -> None:
    """before_request: token, limits, role, query parameters, in that order."""
    request = flask.request
    policy = POLICIES.get(request.endpoint or "") if request.url_rule is not None else None
    if policy is None:
        return  # routing refused it (404, 405): the app answers
    w = _wiring()
    correlation_id = plain_token(request.headers.get("X-Correlation-ID", ""))
    bind_message_context(function="api", correlation_id=correlation_id, message_type=policy.name)
    who = _authenticate(request, w, correlation_id) if policy.roles is not None else None
    _limit(policy, request, who, w)
    flask.g.call = Call(policy, who, w, correlation_id)
    if who is not None and policy.roles is not None and who.role not in policy.roles:
        raise HttpError(403, "forbidden", "your role may not use this route")
    refuse_unknown_parameters(request.args, set(policy.query))


def _record(call: Call, status: int) -> None:
    policy = call.policy
    if call.audited or (call.who is None and policy.limit not in {"login", "session"}):
        return
    call.audited = True
    action: Action = "read" if policy.method == "GET" else "change"
    if policy.limit in {"login", "session"}:
        action = "login"
    resource = ",".join(call.resource) or policy.name
    call.wiring.audit.record(call.who, action, resource, status, call.correlation_id)


def audit(response: flask.Response) -> flask.Response:
    """after_request: every answer, the refusals of the error handlers included."""
    call: Call | None = flask.g.get("call")
    if call is not None:
        _record(call, response.status_code)
    return response


def audit_failure(error: BaseException | None) -> None:
    """teardown_request: an error no handler answered is a 500, audited as such."""
    call: Call | None = flask.g.get("call")
    if call is not None and error is not None:
        _record(call, 500)


def _answer_refused(error: Refused) -> flask.Response:
    response = error_response(error)
    response.headers.update(error.headers)
    return response


def install(app: OpenAPI) -> None:
    """The guard first, before the app's own body check: an anonymous caller is answered
    401, whatever it sent."""
    app.before_request_funcs.setdefault(None, []).insert(0, guard)
    app.after_request(audit)
    app.teardown_request(audit_failure)
    app.register_error_handler(Refused, _answer_refused)
