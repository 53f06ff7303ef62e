"""Cloud Function entry points of the notifications context: thin, one hop to a handler.

- notifications_on_<event>: one function per event of another context it reacts to
  (handlers.notify), each behind its own filtered trigger subscription.
- notifications_deliver_notification: one delivery attempt (delivery.py).
- notifications_set_recipient_channels: a recipient's channel preferences.
- notifications_record_dead_letter: records what died on notifications-dead-letter.
- notifications_commands_http: set channels (202), and the confirmation link
  (GET shows a button, POST confirms: a mail scanner that fetches links confirms nothing).
- notifications_queries_http: the read side (queries.py) and the context's dead letters.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.data_services.messages import (
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    ExpertAssigned,
)
from functions.ingestion.messages import ImageRejected, StudyIngested
from functions.notifications import queries, wiring
from functions.notifications.adapters.webhook_guard import UrlRefused
from functions.notifications.confirmation import link_id
from functions.notifications.messages import (
    NAMES,
    ConfirmNotification,
    DeliverNotification,
    SetRecipientChannels,
)
from functions.sagas.messages import SagaCompensated, SagaCompleted, SagaStuck
from functions.subscriptions.messages import (
    PaymentDeclined,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.errors import PermanentError
from shared.domain.messages import Message
from shared.entrypoints.command_door import CommandDoor
from shared.entrypoints.dead_letter_door import serves_dead_letters
from shared.entrypoints.http import (
    HttpError,
    answers_errors,
    json_response,
    match_route,
    read_json_body,
)
from shared.entrypoints.pubsub import CloudEventLike, consume, processed_by, record_dead_letter
from shared.logging import get_logger
from shared.ports.envelope import Envelope, derived_id, parse_payload
from shared.service.command_log import request_digest
from shared.service.pagination import page_size, refuse_unknown_parameters

log = get_logger(__name__)

_COMMAND_ROUTES = Map(
    [
        Rule("/recipients/<recipient_id>/channels", endpoint="channels", methods=["PUT", "POST"]),
        Rule("/confirm", endpoint="confirm", methods=["GET", "POST"]),
    ],
    strict_slashes=False,
)
QUERIES_PATH = "/notifications_queries_http"
_QUERY_ROUTES = Map(
    [
        Rule("/recipients/<recipient_id>/notifications", endpoint="of_recipient", methods=["GET"]),
        Rule("/notifications/<notification_id>", endpoint="get", methods=["GET"]),
        Rule("/causes/<event_id>/notifications", endpoint="caused_by", methods=["GET"]),
        Rule("/commands/<command_id>", endpoint="command", methods=["GET"]),
    ],
    strict_slashes=False,
)
_CONFIRM_REFUSALS = {
    "invalid_link": 403,
    "link_expired": 410,
    "link_already_used": 409,
    "not_delivered": 409,
    "unknown_notification": 404,
}


def _wiring() -> wiring.NotificationsWiring:
    return bootstrap.context(wiring.build)


def _consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
    w = _wiring()
    handle: Callable[[Envelope], str] = processed_by(w.processor)
    if expects is DeliverNotification:
        handle = w.delivery.deliver
    consume(
        cloud_event,
        expects,
        handle,
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
    )


@functions_framework.cloud_event
def notifications_on_subscription_created(cloud_event: CloudEventLike) -> None:
    """SubscriptionCreated → handlers.notify (and the client's email is learned)."""
    _consume(cloud_event, SubscriptionCreated, "notifications_on_subscription_created")


@functions_framework.cloud_event
def notifications_on_subscription_paid(cloud_event: CloudEventLike) -> None:
    """SubscriptionPaid → handlers.notify."""
    _consume(cloud_event, SubscriptionPaid, "notifications_on_subscription_paid")


@functions_framework.cloud_event
def notifications_on_payment_declined(cloud_event: CloudEventLike) -> None:
    """PaymentDeclined → handlers.notify."""
    _consume(cloud_event, PaymentDeclined, "notifications_on_payment_declined")


@functions_framework.cloud_event
def notifications_on_plan_changed(cloud_event: CloudEventLike) -> None:
    """PlanChanged → handlers.notify."""
    _consume(cloud_event, PlanChanged, "notifications_on_plan_changed")


@functions_framework.cloud_event
def notifications_on_subscription_cancelled(cloud_event: CloudEventLike) -> None:
    """SubscriptionCancelled → handlers.notify."""
    _consume(cloud_event, SubscriptionCancelled, "notifications_on_subscription_cancelled")


@functions_framework.cloud_event
def notifications_on_study_ingested(cloud_event: CloudEventLike) -> None:
    """StudyIngested → handlers.notify (to the center)."""
    _consume(cloud_event, StudyIngested, "notifications_on_study_ingested")


@functions_framework.cloud_event
def notifications_on_image_rejected(cloud_event: CloudEventLike) -> None:
    """ImageRejected → handlers.notify (to the center)."""
    _consume(cloud_event, ImageRejected, "notifications_on_image_rejected")


@functions_framework.cloud_event
def notifications_on_data_service_created(cloud_event: CloudEventLike) -> None:
    """DataServiceCreated → handlers.notify (to the client; its owner is remembered)."""
    _consume(cloud_event, DataServiceCreated, "notifications_on_data_service_created")


@functions_framework.cloud_event
def notifications_on_data_service_delivered(cloud_event: CloudEventLike) -> None:
    """DataServiceDelivered → handlers.notify (to the data service's client)."""
    _consume(cloud_event, DataServiceDelivered, "notifications_on_data_service_delivered")


@functions_framework.cloud_event
def notifications_on_data_service_failed(cloud_event: CloudEventLike) -> None:
    """DataServiceFailed → handlers.notify (to the data service's client)."""
    _consume(cloud_event, DataServiceFailed, "notifications_on_data_service_failed")


@functions_framework.cloud_event
def notifications_on_expert_assigned(cloud_event: CloudEventLike) -> None:
    """ExpertAssigned → handlers.notify (to the expert)."""
    _consume(cloud_event, ExpertAssigned, "notifications_on_expert_assigned")


@functions_framework.cloud_event
def notifications_on_saga_completed(cloud_event: CloudEventLike) -> None:
    """SagaCompleted → handlers.notify (the client's "ready": template data_service_ready)."""
    _consume(cloud_event, SagaCompleted, "notifications_on_saga_completed")


@functions_framework.cloud_event
def notifications_on_saga_compensated(cloud_event: CloudEventLike) -> None:
    """SagaCompensated → handlers.notify (the client: it failed, and what was undone)."""
    _consume(cloud_event, SagaCompensated, "notifications_on_saga_compensated")


@functions_framework.cloud_event
def notifications_on_saga_stuck(cloud_event: CloudEventLike) -> None:
    """SagaStuck → handlers.notify (the operator, from configuration)."""
    _consume(cloud_event, SagaStuck, "notifications_on_saga_stuck")


@functions_framework.cloud_event
def notifications_deliver_notification(cloud_event: CloudEventLike) -> None:
    """DeliverNotification → handlers.claim_delivery, then delivery.DeliveryService sends."""
    _consume(cloud_event, DeliverNotification, "notifications_deliver_notification")


@functions_framework.cloud_event
def notifications_set_recipient_channels(cloud_event: CloudEventLike) -> None:
    """SetRecipientChannels → handlers.set_recipient_channels."""
    _consume(cloud_event, SetRecipientChannels, "notifications_set_recipient_channels")


@functions_framework.cloud_event
def notifications_record_dead_letter(cloud_event: CloudEventLike) -> None:
    """Whatever reached notifications-dead-letter → shared/service/dead_letters.py."""
    w = _wiring()
    record_dead_letter(
        cloud_event,
        function="notifications_record_dead_letter",
        context=NAMES,
        dead_letters=w.platform.dead_letters,
    )


@functions_framework.http
@answers_errors
def notifications_commands_http(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(_COMMAND_ROUTES, request)
    w = _wiring()
    if endpoint == "confirm":
        return _confirm(w, request)
    body = read_json_body(request)
    if not isinstance(body, dict):
        raise HttpError(400, "schema_violation", "the body must be a JSON object")
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(
        request, endpoint, args, lambda _: _channels_command(w, args["recipient_id"], body)
    )
    door.accept_and_publish(envelope, request_digest(endpoint, args, body))
    return door.accepted(
        envelope,
        "recipient_id",
        notifications=f"{QUERIES_PATH}/recipients/{envelope.subject}/notifications",
    )


def _channels_command(
    w: wiring.NotificationsWiring, recipient_id: str, body: dict[str, object]
) -> SetRecipientChannels:
    command = parse_payload(SetRecipientChannels, {**body, "recipient_id": recipient_id})
    for preference in command.channels:
        if preference.channel == "webhook" and preference.url:
            try:  # every address the host resolves to, now; the send checks them again
                w.webhook_guard.resolve(preference.url)
            except UrlRefused as refused:
                raise HttpError(
                    422, refused.reason, "this webhook URL is refused", field="url"
                ) from None
    return command


def _confirm(w: wiring.NotificationsWiring, request: flask.Request) -> flask.Response:
    if request.method == "GET":
        token = html.escape(request.args.get("token", "")[:600], quote=True)
        page = (
            "<!doctype html><meta charset=utf-8><title>Confirm</title>"
            '<form method="post"><input type="hidden" name="token" value="' + token + '">'
            "<button>Confirm I received this message</button></form>"
        )
        return flask.Response(page, mimetype="text/html")
    if (request.mimetype or "").endswith("json"):
        body = read_json_body(request)
        token = str(body.get("token", "")) if isinstance(body, dict) else ""
    else:
        token = request.form.get("token", "")
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
    return json_response({"notification_id": notification_id, "status": "confirmed"})


@functions_framework.http
@answers_errors
@serves_dead_letters(lambda: _wiring().platform)
def notifications_queries_http(request: flask.Request) -> flask.Response:
    w = _wiring()
    endpoint, args = match_route(_QUERY_ROUTES, request)
    view = w.storage.view.collection
    if endpoint == "get":
        refuse_unknown_parameters(request.args, set())
        found = queries.notification_with_history(w.storage.events, args["notification_id"])
        if found is None:
            raise HttpError(404, "notification_not_found", "no such notification")
        return json_response(found)
    if endpoint == "command":
        refuse_unknown_parameters(request.args, set())
        status = w.commands.status(args["command_id"])
        if status is None:
            raise HttpError(404, "command_not_found", "no such command")
        return json_response(status)
    refuse_unknown_parameters(request.args, {"limit", "cursor"})
    limit, cursor = page_size(request.args.get("limit")), request.args.get("cursor")
    if endpoint == "of_recipient":
        answer = queries.notifications_of_recipient(
            w.platform.store, view, args["recipient_id"], limit=limit, cursor=cursor
        )
    else:
        answer = queries.notifications_caused_by(
            w.platform.store, view, args["event_id"], limit=limit, cursor=cursor
        )
    return json_response(answer)
