"""Confirmation links mailed with a notification point here, at the public door.

The notifications door that checks a link's token is internal (only the api may invoke it),
so a link must open on the api: GET answers a page with one button and confirms nothing (a
mail scanner that fetches every link confirms nothing), the button POSTs the token as a
form, and a client may POST it as JSON. The api hands the token to notifications'
`/confirm` and answers what it says, as JSON (`{"status": "confirmed"}` or the refusal's
reason: link_already_used, link_expired, invalid_link).

The link that confirms a client's new notification address, mailed to its current one,
works the same way at `/v1/notifications/address-change` (notifications'
`/address-change`): GET a page that changes nothing, POST applies the change once, and the
same link followed again answers the same; a change replaced by a later one is 409
`address_change_not_pending`.
"""

from __future__ import annotations

import html

import flask
from pydantic import BaseModel, ConfigDict, Field

from functions.api.context_doors import NOTIFICATIONS_COMMANDS, answered
from functions.api.guard import current
from functions.api.routing import Routes
from functions.notifications.messages import AddressChanged, Confirmed
from shared.entrypoints.http import HttpError
from shared.entrypoints.http_app import takes_form

routes = Routes("confirmations", "the confirmation links mailed with notifications")
MAX_TOKEN_CHARS = 512
_PAGE = {
    "description": "a page with one button that confirms (a POST of the link's token)",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


class ConfirmLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(default="", max_length=MAX_TOKEN_CHARS)


def _link_page(title: str, button: str, query: ConfirmLink) -> flask.Response:
    """A link's page: opening it does nothing; its one button posts the token (a mail
    scanner that follows every link confirms nothing)."""
    token = html.escape(query.token, quote=True)
    page = (
        f"<!doctype html><meta charset=utf-8><title>{title}</title>"
        f'<form method="post"><input type="hidden" name="token" value="{token}">'
        f"<button>{button}</button></form>"
    )
    return flask.Response(page, mimetype="text/html")


@routes.get(
    "/v1/notifications/confirm",
    _PAGE,
    roles=None,
    summary="the page of a confirmation link (opening it confirms nothing)",
)
def confirmation_page(query: ConfirmLink) -> flask.Response:
    return _link_page("Confirm", "Confirm I received this message", query)


@routes.post(
    "/v1/notifications/confirm",
    200,
    Confirmed,
    roles=None,
    summary="confirm the message a link was mailed with, once",
    refused=(403, 404, 409, 410, 503),
)
@takes_form
def confirm_link(query: ConfirmLink) -> flask.Response:
    confirmed = Confirmed.model_validate(_pass_token("/confirm", query))
    return flask.Response(confirmed.model_dump_json(), mimetype="application/json")


def _pass_token(door_path: str, query: ConfirmLink) -> object:
    """The posted token (the page's form, a client's JSON, or the link's query), handed to
    notifications' `door_path`; what it answered. JSON whoever asks, the page's form
    included: the document declares one answer per status, and a refusal keeps its
    machine-readable reason."""
    request = flask.request
    from_form = not (request.mimetype or "").endswith("json")
    if from_form:
        token = request.form.get("token", "") or query.token
    else:
        body = request.get_json(silent=True)
        token = str(body.get("token", "")) if isinstance(body, dict) else ""
        token = token or query.token
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise HttpError(400, "schema_violation", "the link's token", field="token")
    doors = current().wiring.platform.doors
    answer = doors.call(NOTIFICATIONS_COMMANDS, "POST", door_path, body={"token": token})
    return answered(NOTIFICATIONS_COMMANDS, answer)


@routes.get(
    "/v1/notifications/address-change",
    _PAGE,
    roles=None,
    summary="the page of an address-change link (opening it changes nothing)",
)
def address_change_page(query: ConfirmLink) -> flask.Response:
    return _link_page("Confirm the new address", "Send my notifications to the new address", query)


@routes.post(
    "/v1/notifications/address-change",
    200,
    AddressChanged,
    roles=None,
    summary="make the new address a link was mailed for the client's, once",
    refused=(403, 409, 410, 503),
)
@takes_form
def change_address(query: ConfirmLink) -> flask.Response:
    changed = AddressChanged.model_validate(_pass_token("/address-change", query))
    return flask.Response(changed.model_dump_json(), mimetype="application/json")
