"""Cloud Function entry points of the subscriptions context: thin, one hop to a handler.

- subscriptions_commands_http: validates a command, records and publishes it, answers 202.
- subscriptions_create_subscription, _change_plan, _cancel_subscription, _pay_subscription,
  _refund_payment: one function per command (handlers.py), each behind its own filtered
  trigger subscription.
- subscriptions_record_dead_letter: records what died on subscriptions-dead-letter.
- subscriptions_queries_http: the read side (queries.py), the status of a command and the
  context's dead letters.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.subscriptions import queries, wiring
from functions.subscriptions.domain import Client, plan_or_error
from functions.subscriptions.messages import (
    NAMES,
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    PaySubscription,
    RefundPayment,
)
from shared.domain.messages import Command
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
from shared.ports.envelope import derived_id, parse_payload
from shared.service.command_log import request_digest
from shared.service.pagination import page_size, refuse_unknown_parameters

log = get_logger(__name__)
QUERIES_PATH = "/subscriptions_queries_http"

_COMMAND_ROUTES = Map(
    [
        Rule("/subscriptions", endpoint="create", methods=["POST"]),
        Rule("/subscriptions/<subscription_id>/plan", endpoint="change_plan", methods=["POST"]),
        Rule("/subscriptions/<subscription_id>/cancel", endpoint="cancel", methods=["POST"]),
        Rule("/subscriptions/<subscription_id>/payments", endpoint="pay", methods=["POST"]),
    ],
    strict_slashes=False,
)
_QUERY_ROUTES = Map(
    [
        Rule("/subscriptions", endpoint="list", methods=["GET"]),
        Rule("/subscriptions/<subscription_id>", endpoint="get", methods=["GET"]),
        Rule("/commands/<command_id>", endpoint="command", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _wiring() -> wiring.SubscriptionsWiring:
    return bootstrap.context(wiring.build)


def _consume(cloud_event: CloudEventLike, expects: type[Command], function: str) -> None:
    w = _wiring()
    consume(
        cloud_event,
        expects,
        processed_by(w.processor),
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
    )


@functions_framework.cloud_event
def subscriptions_create_subscription(cloud_event: CloudEventLike) -> None:
    """CreateSubscription → handlers.create_subscription."""
    _consume(cloud_event, CreateSubscription, "subscriptions_create_subscription")


@functions_framework.cloud_event
def subscriptions_change_plan(cloud_event: CloudEventLike) -> None:
    """ChangePlan → handlers.change_plan."""
    _consume(cloud_event, ChangePlan, "subscriptions_change_plan")


@functions_framework.cloud_event
def subscriptions_cancel_subscription(cloud_event: CloudEventLike) -> None:
    """CancelSubscription → handlers.cancel_subscription."""
    _consume(cloud_event, CancelSubscription, "subscriptions_cancel_subscription")


@functions_framework.cloud_event
def subscriptions_pay_subscription(cloud_event: CloudEventLike) -> None:
    """PaySubscription → handlers.pay_subscription."""
    _consume(cloud_event, PaySubscription, "subscriptions_pay_subscription")


@functions_framework.cloud_event
def subscriptions_refund_payment(cloud_event: CloudEventLike) -> None:
    """RefundPayment → handlers.refund_payment (sent by the PRO saga's compensation)."""
    _consume(cloud_event, RefundPayment, "subscriptions_refund_payment")


@functions_framework.cloud_event
def subscriptions_record_dead_letter(cloud_event: CloudEventLike) -> None:
    """Whatever reached subscriptions-dead-letter → shared/service/dead_letters.py."""
    w = _wiring()
    record_dead_letter(
        cloud_event,
        function="subscriptions_record_dead_letter",
        context=NAMES,
        dead_letters=w.platform.dead_letters,
    )


@functions_framework.http
@answers_errors
def subscriptions_commands_http(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(_COMMAND_ROUTES, request)
    body = read_json_body(request)
    if not isinstance(body, dict):
        raise HttpError(400, "schema_violation", "the body must be a JSON object")
    w = _wiring()
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(
        request, endpoint, args, lambda command_id: _command(endpoint, args, body, command_id)
    )
    if not isinstance(envelope.payload, CreateSubscription):
        _ensure_target_exists(w, envelope.subject)
    door.accept_and_publish(envelope, request_digest(endpoint, args, body))
    return door.accepted(
        envelope,
        "subscription_id",
        subscription=f"{QUERIES_PATH}/subscriptions/{envelope.subject}",
    )


def _ensure_target_exists(w: wiring.SubscriptionsWiring, subscription_id: str) -> None:
    """A command for a subscription that will never exist is refused here, not retried until
    it dies; one whose creation was accepted but not processed yet is let through."""
    if w.platform.store.get(w.collection, subscription_id) is not None:
        return
    if w.commands.accepted_for(subscription_id, CreateSubscription.TYPE):
        return
    raise HttpError(404, "subscription_not_found", "no such subscription")


def _command(endpoint: str, args: dict[str, Any], body: dict[str, Any], command_id: str) -> Command:
    """Validate at the door: schema first, then the domain rules a command can be checked
    against without state, so a client learns at once what is wrong."""
    if endpoint == "create":
        body = {**body, "subscription_id": derived_id(command_id, "subscription")}
        create = parse_payload(CreateSubscription, body)
        Client.from_data(create.client)
        plan_or_error(create.plan)
        return create
    body = {**body, "subscription_id": args["subscription_id"]}
    if endpoint == "change_plan":
        change = parse_payload(ChangePlan, body)
        plan_or_error(change.plan)
        return change
    if endpoint == "cancel":
        return parse_payload(CancelSubscription, body)
    body = {**body, "payment_id": derived_id(command_id, "payment")}
    return parse_payload(PaySubscription, body)


@functions_framework.http
@answers_errors
@serves_dead_letters(lambda: _wiring().platform)
def subscriptions_queries_http(request: flask.Request) -> flask.Response:
    w = _wiring()
    endpoint, args = match_route(_QUERY_ROUTES, request)
    if endpoint == "get":
        # `client_code`: only that client's (another's is answered as if it did not exist).
        refuse_unknown_parameters(request.args, {"client_code"})
        found = queries.get_subscription(w.platform.store, args["subscription_id"], w.collection)
        client_code = request.args.get("client_code")
        if found is None or client_code not in (None, found["client"]["code"]):
            raise HttpError(404, "subscription_not_found", "no such subscription")
        return json_response(found)
    if endpoint == "list":
        refuse_unknown_parameters(request.args, {"client_code", "limit", "cursor"})
        client_code = request.args.get("client_code", "")
        if not client_code:
            raise HttpError(
                400, "missing_parameter", "client_code is required", field="client_code"
            )
        return json_response(
            queries.subscriptions_of_client(
                w.platform.store,
                client_code,
                limit=page_size(request.args.get("limit")),
                cursor=request.args.get("cursor"),
                collection=w.collection,
            )
        )
    refuse_unknown_parameters(request.args, set())
    status = w.commands.status(args["command_id"])
    if status is None:
        raise HttpError(404, "command_not_found", "no such command")
    return json_response(status)
