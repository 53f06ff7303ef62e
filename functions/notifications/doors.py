"""The HTTP doors of the notifications context, each a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- commands (`notifications_commands_http`): a recipient's channels (202, CommandDoor), and
  the confirmation link of a message: GET shows a button, POST confirms, so a mail scanner
  that fetches links confirms nothing; the same for the link that confirms a client's new
  address (/address-change, address_change.py).
- queries (`notifications_queries_http`): a recipient's notifications, one with its
  history, what became of every notification an event caused, what became of a command,
  the context's dead letters.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

import flask
from pydantic import BaseModel, ConfigDict, Field

from functions import bootstrap
from functions.notifications import queries as read
from functions.notifications import wiring
from functions.notifications.adapters.webhook_guard import UrlRefused
from functions.notifications.confirmation import link_id
from functions.notifications.messages import (
    NAMES,
    AddressChanged,
    ChannelPreference,
    Confirmed,
    ConfirmNotification,
    NotificationDetail,
    NotificationView,
    SetRecipientChannels,
)
from shared.domain.errors import PermanentError
from shared.domain.read_models import Page
from shared.entrypoints.command_door import (
    COMMAND_REFUSALS,
    Accepted,
    CommandDoor,
    CommandHeaders,
    CommandLink,
    add_command_status_route,
)
from shared.entrypoints.dead_letter_door import add_dead_letter_route
from shared.entrypoints.door_app import (
    DocumentId,
    NoParameters,
    PageParameters,
    answer,
    answers,
    door_app,
    or_not_found,
)
from shared.entrypoints.http import HttpError
from shared.entrypoints.http_app import FORM_MEDIA_TYPE, takes_form
from shared.ports.envelope import Envelope, derived_id, parse_payload
from shared.service.command_log import request_digest

QUERIES_PATH = f"/{NAMES.name}_queries_http"
MAX_TOKEN_CHARS = 600
_CONFIRM_REFUSALS = {
    "invalid_link": 403,
    "link_expired": 410,
    "link_already_used": 409,
    "not_delivered": 409,
    "unknown_notification": 404,
    "address_change_not_pending": 409,
}
commands = door_app(
    "notifications commands",
    "A recipient's channels (202 with where to read the command's status, at the queries "
    "door) and the confirmation link of a message.",
)
queries = door_app(
    "notifications queries",
    "Notifications and their history, what became of a command, the context's dead letters.",
)


def _wiring() -> wiring.NotificationsWiring:
    return bootstrap.context(wiring.build)


# -- commands --------------------------------------------------------------------------------
class Channels(BaseModel):
    """PUT /recipients/<id>/channels: SetRecipientChannels without its recipient."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    channels: Annotated[list[ChannelPreference], Field(max_length=10)]


class RecipientPath(BaseModel):
    recipient_id: DocumentId


class RecipientLinks(CommandLink):
    notifications: str


class ChannelsAccepted(Accepted):
    recipient_id: str
    links: RecipientLinks


def _channels_command(recipient_id: str, body: Channels) -> SetRecipientChannels:
    command = parse_payload(
        SetRecipientChannels, {**body.model_dump(), "recipient_id": recipient_id}
    )
    for preference in command.channels:
        if preference.channel == "webhook" and preference.url:
            try:  # every address the host resolves to, now; the send checks them again
                _wiring().webhook_guard.resolve(preference.url)
            except UrlRefused as refused:
                raise HttpError(
                    422, refused.reason, "this webhook URL is refused", field="url"
                ) from None
    return command


def set_channels(
    path: RecipientPath, body: Channels, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Set a recipient's channels (email, webhook) and the templates each takes."""
    w = _wiring()
    args = path.model_dump()
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(
        flask.request, "channels", args, lambda _: _channels_command(path.recipient_id, body)
    )
    # The digest of the body as sent: the same key with the same request is the same command.
    digest = request_digest("channels", args, flask.request.get_json())
    door.accept_and_publish(envelope, digest)
    return door.accepted(
        envelope,
        ChannelsAccepted,
        "recipient_id",
        notifications=f"{QUERIES_PATH}/recipients/{envelope.subject}/notifications",
    )


_CHANNELS = "/recipients/<recipient_id>/channels"
_CHANNELS_ANSWERS = answers(ChannelsAccepted, *COMMAND_REFUSALS, status=202)
commands.put(_CHANNELS, responses=_CHANNELS_ANSWERS)(set_channels)
commands.post(_CHANNELS, responses=_CHANNELS_ANSWERS)(set_channels)


class ConfirmLink(BaseModel):
    """The link as mailed. Not closed: a link may come back with parameters a mail system
    added, and a person who clicked it should still see the button."""

    token: str = ""


class ConfirmToken(BaseModel):
    """POST /confirm as JSON (a client), or as the page's form (a person)."""

    token: str


_PAGE = {
    "description": "a page with one button that confirms (a POST of the link's token)",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
# Declared by hand: the framework validates one JSON body, and this route reads either.
_TOKEN_BODY = {
    "required": True,
    "content": {
        media: {"schema": ConfirmToken.model_json_schema()}
        for media in ("application/json", FORM_MEDIA_TYPE)
    },
}


def _button_page(token: str, button: str) -> flask.Response:
    escaped = html.escape(token[:MAX_TOKEN_CHARS], quote=True)
    page = (
        "<!doctype html><meta charset=utf-8><title>Confirm</title>"
        '<form method="post"><input type="hidden" name="token" value="' + escaped + '">'
        f"<button>{button}</button></form>"
    )
    return flask.Response(page, mimetype="text/html")


def _posted_token() -> str:
    """The token of a POST as JSON (a client) or as the page's form (a person)."""
    request = flask.request
    if (request.mimetype or "").endswith("json"):
        body: Any = request.get_json()
        return str(body.get("token", "")) if isinstance(body, dict) else ""
    return request.form.get("token", "")


@commands.get("/confirm", responses=answers(_PAGE, 400))
def confirmation_page(query: ConfirmLink) -> flask.Response:
    """The page of a confirmation link: a GET confirms nothing."""
    return _button_page(query.token, "Confirm I received this message")


@commands.post(
    "/confirm",
    responses=answers(Confirmed, 400, 403, 404, 409, 410, 413, 415, 503),
    openapi_extensions={"requestBody": _TOKEN_BODY},
)
@takes_form
def confirm(query: ConfirmLink) -> flask.Response:
    """Confirm the message a link was mailed with, once."""
    token = _posted_token()
    w = _wiring()
    try:
        notification_id = w.links.verify(token, w.platform.clock())
    except PermanentError as refused:
        raise HttpError(_CONFIRM_REFUSALS[refused.reason], refused.reason, refused.detail) from None
    link = link_id(token)
    envelope = Envelope(
        payload=ConfirmNotification(notification_id=notification_id, link_id=link),
        source=NAMES.source,
        id=derived_id("confirmation", link),
    )
    processed = w.processor.process(envelope)
    if processed.duplicate:
        raise HttpError(409, "link_already_used", "this link was followed already")
    if processed.outcome == "rejected":
        reason = processed.reason or "not_delivered"
        raise HttpError(_CONFIRM_REFUSALS.get(reason, 409), reason, "not confirmed")
    return answer(Confirmed, {"notification_id": notification_id, "status": "confirmed"})


@commands.get("/address-change", responses=answers(_PAGE, 400))
def address_change_page(query: ConfirmLink) -> flask.Response:
    """The page of an address-change link: a GET changes nothing."""
    return _button_page(query.token, "Send my notifications to the new address")


@commands.post(
    "/address-change",
    responses=answers(AddressChanged, 400, 403, 409, 410, 413, 415, 503),
    openapi_extensions={"requestBody": _TOKEN_BODY},
)
@takes_form
def change_address(query: ConfirmLink) -> flask.Response:
    """Make a client's new address the one its notifications go to, as the link its
    current address was mailed says; the same link followed again answers the same."""
    try:
        recipient_id = _wiring().address_changes.confirm(_posted_token())
    except PermanentError as refused:
        raise HttpError(_CONFIRM_REFUSALS[refused.reason], refused.reason, refused.detail) from None
    return answer(AddressChanged, {"recipient_id": recipient_id, "status": "changed"})


# -- queries ---------------------------------------------------------------------------------
class NotificationPath(BaseModel):
    notification_id: DocumentId


class CausePath(BaseModel):
    event_id: DocumentId


@queries.get(
    "/recipients/<recipient_id>/notifications",
    responses=answers(Page[NotificationView], 400, 404, 503),
)
def notifications_of_recipient(path: RecipientPath, query: PageParameters) -> flask.Response:
    """A recipient's notifications, newest first."""
    w = _wiring()
    page = read.notifications_of_recipient(
        w.platform.store, w.storage.view.collection, path.recipient_id, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[NotificationView], page)


@queries.get(
    "/notifications/<notification_id>",
    responses=answers(NotificationDetail, 400, 404, 503),
)
def notification(path: NotificationPath, query: NoParameters) -> flask.Response:
    """A notification with its history, rebuilt from its event stream."""
    found = read.notification_with_history(_wiring().storage.events, path.notification_id)
    return answer(
        NotificationDetail, or_not_found(found, "notification_not_found", "no such notification")
    )


@queries.get(
    "/causes/<event_id>/notifications",
    responses=answers(Page[NotificationView], 400, 404, 503),
)
def notifications_caused_by(path: CausePath, query: PageParameters) -> flask.Response:
    """What became of every notification one event caused."""
    w = _wiring()
    page = read.notifications_caused_by(
        w.platform.store, w.storage.view.collection, path.event_id, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[NotificationView], page)


def _command_status(command_id: str) -> dict[str, Any] | None:
    return _wiring().commands.status(command_id)  # the wiring when asked, never at import


add_command_status_route(queries, _command_status)
add_dead_letter_route(queries, lambda: _wiring().platform)
