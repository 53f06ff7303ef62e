"""One function per route of routes.py: read the request, call the service, shape the answer.

Every function gets a Call (the request, the caller, the path ids, the wiring) after the
dispatcher (entrypoints.py) has authenticated, authorised and rate-limited it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask

from functions.api import reads, timeline
from functions.api.commands import SAGAS
from functions.api.original_payload import v1_create_body
from functions.api.principals import Principal, Role
from functions.api.wiring import ApiWiring
from functions.identity.messages import (
    Credentials,
    GoogleLogin,
    NewUser,
    PasswordChange,
    RefreshRequest,
    TokenPair,
)
from shared.entrypoints.http import HttpError, json_response, read_json_body
from shared.ports.doors import Doors
from shared.ports.envelope import plain_token
from shared.service.pagination import page_size, refuse_unknown_parameters

PAGED = {"limit", "cursor"}
_BODY = "saludtech.api.body"


def json_body(request: flask.Request) -> dict[str, Any]:
    """The request's JSON object, read (bounded) once and kept for whoever asks again."""
    if _BODY not in request.environ:
        body = read_json_body(request)
        if not isinstance(body, dict):
            raise HttpError(400, "schema_violation", "the body must be a JSON object")
        request.environ[_BODY] = body
    found: dict[str, Any] = request.environ[_BODY]
    return found


@dataclass(frozen=True)
class Call:
    request: flask.Request
    who: Principal | None
    args: dict[str, Any]
    wiring: ApiWiring
    # What the audit log records as the resource this call touched.
    resource: list[str]

    @property
    def principal(self) -> Principal:
        assert self.who is not None  # the dispatcher refuses anonymous calls first
        return self.who

    def body(self) -> dict[str, Any]:
        return json_body(self.request)

    def text(self, body: dict[str, Any], name: str, limit: int = 256) -> str:
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise HttpError(400, "schema_violation", f"{name}: a string", field=name)
        return value

    def page(self, known: set[str] = PAGED) -> tuple[int, str | None]:
        refuse_unknown_parameters(self.request.args, known)
        return page_size(self.request.args.get("limit")), self.request.args.get("cursor")


# -- sessions and users: the identity context's, asked at its doors -----------------------
def _correlation(call: Call) -> str:
    return plain_token(call.request.headers.get("X-Correlation-ID", ""))


def _tokens(call: Call, pair: TokenPair) -> flask.Response:
    call.resource.append(f"user/{pair.user_id}")
    return json_response(pair.model_dump(mode="json", exclude={"user_id"}))


def login(call: Call) -> flask.Response:
    body = call.body()
    username, password = call.text(body, "username", 64), call.text(body, "password")
    credentials = Credentials(username=username, password=password)
    return _tokens(call, call.wiring.identity.log_in(credentials, _correlation(call)))


def google_login(call: Call) -> flask.Response:
    id_token = GoogleLogin(id_token=call.text(call.body(), "id_token", 4096))
    return _tokens(call, call.wiring.identity.log_in_with_google(id_token, _correlation(call)))


def refresh(call: Call) -> flask.Response:
    request = RefreshRequest(refresh_token=call.text(call.body(), "refresh_token"))
    return _tokens(call, call.wiring.identity.refresh(request, _correlation(call)))


def logout(call: Call) -> flask.Response:
    """Identity revokes the refresh token and, early, every live access token of its
    account (the account's other devices refresh theirs)."""
    request = RefreshRequest(refresh_token=call.text(call.body(), "refresh_token"))
    user_id = call.wiring.identity.revoke(request, _correlation(call))
    if user_id is not None:
        call.resource.append(f"user/{user_id}")
    return flask.Response(status=204)


def change_password(call: Call) -> flask.Response:
    """Every token issued before is revoked; the answer is a new pair for this device."""
    body = call.body()
    current, new = call.text(body, "current_password"), call.text(body, "new_password")
    user_id = call.principal.user_id
    call.resource.append(f"user/{user_id}")
    change = PasswordChange(current_password=current, new_password=new)
    pair = call.wiring.identity.change_password(user_id, change, _correlation(call))
    return json_response(pair.model_dump(mode="json", exclude={"user_id"}))


def _set_disabled(call: Call, disabled: bool) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    user_id = str(call.args["user_id"])
    call.resource.append(f"user/{user_id}")
    if disabled and user_id == call.principal.user_id:
        raise HttpError(409, "cannot_disable_yourself", "another operator must do it")
    status = call.wiring.identity.set_disabled(user_id, disabled, _correlation(call))
    return json_response(status.model_dump(mode="json"))


def disable_user(call: Call) -> flask.Response:
    return _set_disabled(call, True)


def enable_user(call: Call) -> flask.Response:
    return _set_disabled(call, False)


def me(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    profile = call.wiring.identity.profile(call.principal.user_id, _correlation(call))
    call.resource.append(f"user/{call.principal.user_id}")
    return json_response(profile.model_dump(mode="json"))


def create_user(call: Call) -> flask.Response:
    body = call.body()
    try:
        role = Role(str(body.get("role")))
    except ValueError as error:
        raise HttpError(400, "invalid_role", "center, client, expert or operator") from error
    scope = body.get("scope", "")
    if not isinstance(scope, str) or len(scope) > 64:
        raise HttpError(400, "schema_violation", "scope: a string", field="scope")
    created = call.wiring.identity.create_user(
        NewUser(
            username=call.text(body, "username", 64),
            password=call.text(body, "password"),
            role=role.value,
            scope=scope,
            email=call.text(body, "email", 254),
            national_id=str(body.get("national_id") or "")[:20],
            google_subject=str(body.get("google_subject") or "")[:128],
        ),
        _correlation(call),
    )
    call.resource.append(f"user/{created.user_id}")
    return json_response(created.model_dump(mode="json"), status=201)


# -- subscriptions -------------------------------------------------------------------------
def _doors(call: Call) -> Doors:
    """The contexts' doors: every data route reads and commands through them (reads.py,
    commands.py), never another context's code or store."""
    return call.wiring.platform.doors


def _accepted(call: Call, path: str, body: dict[str, Any]) -> flask.Response:
    w = call.wiring
    accepted = w.commands.send(
        call.principal,
        path,
        body,
        call.request.headers.get("Idempotency-Key", "").strip(),
        call.request.headers.get("X-Correlation-ID", ""),
    )
    call.resource.append(f"subscription/{accepted.subject}")
    status_url = f"/v1/commands/{accepted.command_id}"
    answer = {
        **{k: accepted.answer[k] for k in ("command_id", "command_type", "correlation_id")},
        "subscription_id": accepted.subject,
        "status": "accepted",
        "links": {
            "command": status_url,
            "timeline": f"{status_url}/timeline",
            "stream": f"{status_url}/stream",
            "subscription": f"/v1/subscriptions/{accepted.subject}",
        },
    }
    return json_response(answer, status=202, headers={"Location": status_url})


def _create(call: Call, body: dict[str, Any]) -> flask.Response:
    client = body.get("client")
    code = client.get("code") if isinstance(client, dict) else None
    if isinstance(code, str) and code.strip() != call.principal.scope:
        # A client subscribes itself, never another client.
        raise HttpError(403, "not_your_client_code", "client.code must be your own", "client.code")
    return _accepted(call, "/subscriptions", body)


def create_subscription(call: Call) -> flask.Response:
    return _create(call, call.body())


def original_create(call: Call) -> flask.Response:
    return _create(call, v1_create_body(call.body()))


def _owned_subscription(call: Call) -> str:
    subscription_id = str(call.args["subscription_id"])
    try:
        reads.subscription_of(_doors(call), call.principal, subscription_id)
    except HttpError:
        if not call.wiring.commands.sent_for(call.principal, subscription_id):
            raise
    return subscription_id


def change_plan(call: Call) -> flask.Response:
    body = call.body()
    return _accepted(call, f"/subscriptions/{_owned_subscription(call)}/plan", body)


def cancel(call: Call) -> flask.Response:
    body = call.body()
    return _accepted(call, f"/subscriptions/{_owned_subscription(call)}/cancel", body)


def pay(call: Call) -> flask.Response:
    body = call.body()
    return _accepted(call, f"/subscriptions/{_owned_subscription(call)}/payments", body)


def list_subscriptions(call: Call) -> flask.Response:
    limit, cursor = call.page()
    call.resource.append(f"client/{call.principal.scope}/subscriptions")
    return json_response(reads.subscriptions_of(_doors(call), call.principal, limit, cursor))


def get_subscription(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    call.resource.append(f"subscription/{call.args['subscription_id']}")
    subscription_id = str(call.args["subscription_id"])
    return json_response(reads.subscription_of(_doors(call), call.principal, subscription_id))


# -- commands and their timeline -----------------------------------------------------------
def _own_command(call: Call) -> tuple[str, str, str]:
    """(command id, its subject, its context) of a command the caller sent (an operator:
    any)."""
    command_id = str(call.args["command_id"])
    call.resource.append(f"command/{command_id}")
    found = call.wiring.platform.store.get(call.wiring.commands.collection, command_id)
    mine = found is not None and (
        found["user_id"] == call.principal.user_id or call.principal.role is Role.OPERATOR
    )
    if not mine:
        raise HttpError(404, "command_not_found", "no such command")
    assert found is not None
    return command_id, str(found["subject"]), str(found.get("context", ""))


def command(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    command_id, _, context = _own_command(call)
    if context == SAGAS:
        return json_response(reads.saga_command_status(_doors(call), command_id))
    status = reads.command_status(_doors(call), command_id)
    if status is None:
        raise HttpError(404, "command_not_found", "no such command")
    return json_response(status)


def timeline_of(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    command_id, subject, context = _own_command(call)
    current = timeline.timeline(_doors(call), call.principal, command_id, subject, context)
    tag = timeline.etag(current)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if tag in [t.strip() for t in call.request.headers.get("If-None-Match", "").split(",")]:
        return flask.Response(status=304, headers=headers)
    return json_response(current, headers=headers)


def stream(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    command_id, subject, context = _own_command(call)
    who, doors = call.principal, _doors(call)
    first = [timeline.timeline(doors, who, command_id, subject, context)]  # 404 first

    def compose() -> dict[str, Any]:
        if first:
            return first.pop()
        return timeline.timeline(doors, who, command_id, subject, context)

    return flask.Response(
        timeline.server_sent_events(compose),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# -- centers -------------------------------------------------------------------------------
def list_images(call: Call) -> flask.Response:
    limit, cursor = call.page(set(reads.CATALOGUE_FILTERS) | PAGED)  # never `center`
    call.resource.append(f"center/{call.principal.scope}/images")
    filters = call.request.args
    return json_response(reads.images_of(_doors(call), call.principal, filters, limit, cursor))


def get_image(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, set())
    call.resource.append(f"image/{call.args['image_id']}")
    return json_response(reads.image_of(_doors(call), call.principal, call.args["image_id"]))


def quarantine(call: Call) -> flask.Response:
    limit, cursor = call.page()
    call.resource.append(f"center/{call.principal.scope}/quarantine")
    return json_response(reads.quarantine_of(_doors(call), call.principal, limit, cursor))


def create_upload(call: Call) -> flask.Response:
    w = call.wiring
    grant = w.uploads.grant(call.principal, call.body().get("file_name"), w.platform.clock())
    call.resource.append(f"upload/{grant['object']}")
    return json_response(grant, status=201)


# -- clients, experts, operators -----------------------------------------------------------
def data_services(call: Call) -> flask.Response:
    limit, cursor = call.page()
    call.resource.append(f"client/{call.principal.scope}/data-services")
    return json_response(reads.data_services_of(_doors(call), call.principal, limit, cursor))


def notifications(call: Call) -> flask.Response:
    limit, cursor = call.page()
    call.resource.append(f"client/{call.principal.scope}/notifications")
    return json_response(reads.notifications_of(_doors(call), call.principal, limit, cursor))


def assignments(call: Call) -> flask.Response:
    limit, cursor = call.page()
    call.resource.append(f"expert/{call.principal.scope}/assignments")
    return json_response(reads.assignments_of(_doors(call), call.principal, limit, cursor))


def dead_letters(call: Call) -> flask.Response:
    """Every context's, merged newest first, or one `context`'s (api/dead_letters.py)."""
    limit, cursor = call.page(PAGED | {"context"})
    context = call.request.args.get("context")
    call.resource.append("dead-letters")
    return json_response(reads.dead_letters(_doors(call), context, limit, cursor))


def audit(call: Call) -> flask.Response:
    limit, cursor = call.page()
    call.resource.append("audit")
    return json_response(call.wiring.audit.page(limit, cursor))


# -- sagas (the sagas context's read side and its operator retry) ------------------------
def list_sagas(call: Call) -> flask.Response:
    limit, cursor = call.page({"subscription_id", "status", "limit", "cursor"})
    args = call.request.args
    subscription_id, status = args.get("subscription_id", ""), args.get("status", "")
    call.resource.append(f"subscription/{subscription_id}/sagas" if subscription_id else "sagas")
    listed = reads.sagas_listed(
        _doors(call), call.principal, subscription_id=subscription_id, status=status,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return json_response(listed)


def get_saga(call: Call) -> flask.Response:
    refuse_unknown_parameters(call.request.args, {"log_limit", "log_cursor"})
    saga_id = str(call.args["saga_id"])
    call.resource.append(f"saga/{saga_id}")
    log_limit = page_size(call.request.args.get("log_limit"), default=100)
    return json_response(
        reads.saga_with_log(
            _doors(call), call.principal, saga_id, log_limit, call.request.args.get("log_cursor")
        )
    )


def retry_saga(call: Call) -> flask.Response:
    """202 with the retry's command resource: the sagas retry a STUCK saga's compensations
    (409 saga_not_stuck otherwise)."""
    from functions.sagas.messages import RetrySaga

    refuse_unknown_parameters(call.request.args, set())
    saga_id = str(call.args["saga_id"])
    call.resource.append(f"saga/{saga_id}")
    reads.saga_for(_doors(call), call.principal, saga_id)  # 404 before anything is sent
    accepted = call.wiring.commands.retry_saga(call.principal, saga_id)
    status_url = f"/v1/commands/{accepted.command_id}"
    answer = {
        "command_id": accepted.command_id,
        "command_type": RetrySaga.TYPE,
        "saga_id": saga_id,
        "status": "accepted",
        "saga_status": accepted.answer.get("status"),
        "links": {"command": status_url, "saga": f"/v1/sagas/{saga_id}"},
    }
    return json_response(answer, status=202, headers={"Location": status_url})


ENDPOINTS: dict[str, Callable[[Call], flask.Response]] = {
    "login": login,
    "google_login": google_login,
    "refresh": refresh,
    "logout": logout,
    "me": me,
    "change_password": change_password,
    "create_user": create_user,
    "disable_user": disable_user,
    "enable_user": enable_user,
    "create_subscription": create_subscription,
    "original_create": original_create,
    "list_subscriptions": list_subscriptions,
    "get_subscription": get_subscription,
    "change_plan": change_plan,
    "cancel": cancel,
    "pay": pay,
    "command": command,
    "timeline": timeline_of,
    "stream": stream,
    "list_images": list_images,
    "get_image": get_image,
    "quarantine": quarantine,
    "create_upload": create_upload,
    "data_services": data_services,
    "notifications": notifications,
    "assignments": assignments,
    "dead_letters": dead_letters,
    "audit": audit,
    "list_sagas": list_sagas,
    "get_saga": get_saga,
    "retry_saga": retry_saga,
}
