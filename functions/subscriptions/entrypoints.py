"""Cloud Function entry points of the subscriptions context: thin, one hop to a handler.

- subscriptions_commands_http: validates a command, publishes it, answers 202 and where to look.
- subscriptions_handle_command: Pub/Sub-triggered; runs the command handlers (commands.py).
- subscriptions_queries_http: the read side (queries.py) and the status of a command.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap, subscriptions
from functions.subscriptions import queries
from functions.subscriptions.domain import Client, plan_or_error
from functions.subscriptions.messages import (
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    PaySubscription,
)
from shared.envelope import Envelope, derived_id, parse_payload
from shared.http import HttpError, answers_errors, json_response, match_route, read_json_body
from shared.logging import bind_message_context, get_logger, trace_from_header
from shared.messages import Command
from shared.pagination import page_size
from shared.pubsub_entrypoint import process_pubsub_event

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


@functions_framework.cloud_event
def subscriptions_handle_command(cloud_event: Any) -> None:
    p = bootstrap.platform()
    process_pubsub_event(
        cloud_event,
        bootstrap.subscriptions_processor(p),
        dead_letter_topic=subscriptions.DEAD_LETTER_TOPIC,
        raw_publisher=p.publisher,
        function="subscriptions_handle_command",
    )


@functions_framework.http
@answers_errors
def subscriptions_commands_http(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(_COMMAND_ROUTES, request)
    body = read_json_body(request)
    if not isinstance(body, dict):
        raise HttpError(400, "schema_violation", "the body must be a JSON object")
    command_id = _command_id(request, endpoint, args)
    envelope = Envelope(
        payload=_command(endpoint, args, body, command_id),
        source=subscriptions.SOURCE,
        id=command_id,
        correlation_id=request.headers.get("X-Correlation-ID", "")[:64],
    )
    p = bootstrap.platform()
    trace = request.headers.get("X-Cloud-Trace-Context")
    bind_message_context(
        function="subscriptions_commands_http",
        correlation_id=envelope.correlation_id,
        message_id=envelope.id,
        message_type=envelope.type,
        trace=trace_from_header(trace, p.settings.project_id) or "",
    )
    p.publisher.publish(subscriptions.COMMANDS_TOPIC, [envelope])
    log.info("command_accepted")
    subject = envelope.subject
    status_url = f"{QUERIES_PATH}/commands/{envelope.id}"
    return json_response(
        {
            "command_id": envelope.id,
            "command_type": envelope.type,
            "subscription_id": subject,
            "correlation_id": envelope.correlation_id,
            "status": "accepted",
            "links": {
                "command": status_url,
                "subscription": f"{QUERIES_PATH}/subscriptions/{subject}",
            },
        },
        status=202,
        headers={"Location": status_url},
    )


def _command_id(request: flask.Request, endpoint: str, args: dict[str, Any]) -> str:
    """With an Idempotency-Key, a retried request is the same command (same ids)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return derived_id("subscriptions-http", endpoint, str(args), _random())
    if len(key) > 128:
        raise HttpError(400, "invalid_idempotency_key", "at most 128 characters")
    return derived_id("subscriptions-http", endpoint, str(args), key)


def _random() -> str:
    import uuid

    return str(uuid.uuid4())


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
def subscriptions_queries_http(request: flask.Request) -> flask.Response:
    p = bootstrap.platform()
    collection = bootstrap.subscriptions_collection(p)
    endpoint, args = match_route(_QUERY_ROUTES, request)
    if endpoint == "get":
        found = queries.get_subscription(p.store, args["subscription_id"], collection)
        if found is None:
            raise HttpError(404, "subscription_not_found", "no such subscription")
        return json_response(found)
    if endpoint == "list":
        client_code = request.args.get("client_code", "")
        if not client_code:
            raise HttpError(
                400, "missing_parameter", "client_code is required", field="client_code"
            )
        return json_response(
            queries.subscriptions_of_client(
                p.store,
                client_code,
                limit=page_size(request.args.get("limit")),
                cursor=request.args.get("cursor"),
                collection=collection,
            )
        )
    status = bootstrap.subscriptions_processor(p).status(args["command_id"])
    return json_response(status or {"message_id": args["command_id"], "outcome": "pending"})
