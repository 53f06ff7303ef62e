"""Cloud Function entry points of the data_services context: thin, one hop to a handler.

- data_services_commands_http: validates a command, records and publishes it, answers 202.
- one function per consumed message (handlers.HANDLERS), each behind its own filtered
  trigger subscription: the commands, the chunk commands, and the projections of
  ImageAnonymized and SubscriptionCreated.
- data_services_record_dead_letter: records what died on data-services-dead-letter.
- data_services_queries_http: the read side (queries.py), the status of a command and the
  context's dead letters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.data_services import queries, wiring
from functions.data_services.domain import (
    delivery_mode,
    validate_create,
    validate_dataset_code,
)
from functions.data_services.experts import Expert
from functions.data_services.messages import (
    NAMES,
    AssignExpert,
    CancelDataService,
    CreateDataService,
    CreateDataServiceV2,
    DeliverChunk,
    FinishDataService,
    PrepareDataset,
    RegisterExpert,
    RevokeChunk,
    StartDataService,
    SubmitDataRequest,
)
from functions.ingestion.messages import ImageAnonymized
from functions.subscriptions.messages import SubscriptionCreated
from shared.domain.clock import utc_now
from shared.domain.messages import Command, Message
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
QUERIES_PATH = "/data_services_queries_http"
_SERVICE_COMMANDS: dict[str, type[Command]] = {
    "assign": AssignExpert,
    "prepare": PrepareDataset,
    "start": StartDataService,
    "finish": FinishDataService,
    "cancel": CancelDataService,
}

_COMMAND_ROUTES = Map(
    [
        Rule("/data-services", endpoint="create", methods=["POST"]),
        Rule("/data-services/<data_service_id>/expert", endpoint="assign", methods=["POST"]),
        Rule("/data-services/<data_service_id>/dataset", endpoint="prepare", methods=["POST"]),
        Rule("/data-services/<data_service_id>/start", endpoint="start", methods=["POST"]),
        Rule("/data-services/<data_service_id>/finish", endpoint="finish", methods=["POST"]),
        Rule("/data-services/<data_service_id>/cancel", endpoint="cancel", methods=["POST"]),
        Rule("/experts", endpoint="register", methods=["POST"]),
        Rule("/subscriptions/<subscription_id>/data-request", endpoint="request", methods=["POST"]),
    ],
    strict_slashes=False,
)
_QUERY_ROUTES = Map(
    [
        Rule("/data-services", endpoint="list", methods=["GET"]),
        Rule("/data-services/<data_service_id>", endpoint="get", methods=["GET"]),
        Rule("/data-services/<data_service_id>/manifest", endpoint="manifest", methods=["GET"]),
        Rule("/experts/<expert_code>", endpoint="expert", methods=["GET"]),
        Rule("/experts/<expert_code>/assignments", endpoint="assignments", methods=["GET"]),
        Rule("/commands/<command_id>", endpoint="command", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _wiring() -> wiring.DataServicesWiring:
    return bootstrap.context(wiring.build)


def _consume(
    cloud_event: CloudEventLike,
    expects: type[Message],
    function: str,
    handle: Callable[[wiring.DataServicesWiring], Callable[[Envelope], str]] | None = None,
) -> None:
    w = _wiring()
    consume(
        cloud_event,
        expects,
        handle(w) if handle else processed_by(w.processor),
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
    )


@functions_framework.cloud_event
def data_services_create_data_service(cloud_event: CloudEventLike) -> None:
    """CreateDataService (v1, deprecated) → handlers.create_data_service_v1."""
    _consume(cloud_event, CreateDataService, "data_services_create_data_service")


@functions_framework.cloud_event
def data_services_create_data_service_v2(cloud_event: CloudEventLike) -> None:
    """CreateDataServiceV2 → handlers.create_data_service."""
    _consume(cloud_event, CreateDataServiceV2, "data_services_create_data_service_v2")


@functions_framework.cloud_event
def data_services_submit_data_request(cloud_event: CloudEventLike) -> None:
    """SubmitDataRequest → handlers.submit_data_request."""
    _consume(cloud_event, SubmitDataRequest, "data_services_submit_data_request")


@functions_framework.cloud_event
def data_services_assign_expert(cloud_event: CloudEventLike) -> None:
    """AssignExpert → handlers.assign_expert."""
    _consume(cloud_event, AssignExpert, "data_services_assign_expert")


@functions_framework.cloud_event
def data_services_register_expert(cloud_event: CloudEventLike) -> None:
    """RegisterExpert → handlers.register_expert."""
    _consume(cloud_event, RegisterExpert, "data_services_register_expert")


@functions_framework.cloud_event
def data_services_prepare_dataset(cloud_event: CloudEventLike) -> None:
    """PrepareDataset → delivery.DeliveryService.prepare (resolve, then freeze the manifest)."""
    _consume(
        cloud_event,
        PrepareDataset,
        "data_services_prepare_dataset",
        lambda w: w.delivery.prepare,
    )


@functions_framework.cloud_event
def data_services_start_data_service(cloud_event: CloudEventLike) -> None:
    """StartDataService → delivery.DeliveryService.start (deliver the prepared manifest)."""
    _consume(
        cloud_event,
        StartDataService,
        "data_services_start_data_service",
        lambda w: w.delivery.start,
    )


@functions_framework.cloud_event
def data_services_deliver_chunk(cloud_event: CloudEventLike) -> None:
    """DeliverChunk → delivery.DeliveryService.deliver_chunk."""
    _consume(
        cloud_event, DeliverChunk, "data_services_deliver_chunk", lambda w: w.delivery.deliver_chunk
    )


@functions_framework.cloud_event
def data_services_revoke_chunk(cloud_event: CloudEventLike) -> None:
    """RevokeChunk → delivery.DeliveryService.revoke_chunk."""
    _consume(
        cloud_event, RevokeChunk, "data_services_revoke_chunk", lambda w: w.delivery.revoke_chunk
    )


@functions_framework.cloud_event
def data_services_finish_data_service(cloud_event: CloudEventLike) -> None:
    """FinishDataService → delivery.DeliveryService.end (finish, then revoke the copies)."""
    _consume(
        cloud_event,
        FinishDataService,
        "data_services_finish_data_service",
        lambda w: w.delivery.end,
    )


@functions_framework.cloud_event
def data_services_cancel_data_service(cloud_event: CloudEventLike) -> None:
    """CancelDataService → delivery.DeliveryService.end (cancel, then revoke the copies)."""
    _consume(
        cloud_event,
        CancelDataService,
        "data_services_cancel_data_service",
        lambda w: w.delivery.end,
    )


@functions_framework.cloud_event
def data_services_project_image(cloud_event: CloudEventLike) -> None:
    """ImageAnonymized (ingestion-events) → projections.Projections.project_image."""
    _consume(
        cloud_event, ImageAnonymized, "data_services_project_image",
        lambda w: w.projections.project_image,
    )  # fmt: skip


@functions_framework.cloud_event
def data_services_project_subscription(cloud_event: CloudEventLike) -> None:
    """SubscriptionCreated (subscriptions-events) → Projections.project_subscription."""
    _consume(
        cloud_event, SubscriptionCreated, "data_services_project_subscription",
        lambda w: w.projections.project_subscription,
    )  # fmt: skip


@functions_framework.cloud_event
def data_services_record_dead_letter(cloud_event: CloudEventLike) -> None:
    """Whatever reached data-services-dead-letter → shared/service/dead_letters.py."""
    record_dead_letter(
        cloud_event,
        function="data_services_record_dead_letter",
        context=NAMES,
        dead_letters=_wiring().platform.dead_letters,
    )


@functions_framework.http
@answers_errors
def data_services_commands_http(request: flask.Request) -> flask.Response:
    endpoint, args = match_route(_COMMAND_ROUTES, request)
    body = read_json_body(request)
    if not isinstance(body, dict):
        raise HttpError(400, "schema_violation", "the body must be a JSON object")
    w = _wiring()
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(
        request, endpoint, args, lambda command_id: _command(endpoint, args, body, command_id)
    )
    _ensure_targets_exist(w, envelope.payload)
    door.accept_and_publish(envelope, request_digest(endpoint, args, body))
    if endpoint == "register":
        return door.accepted(
            envelope, "subject", expert=f"{QUERIES_PATH}/experts/{envelope.subject}"
        )
    if endpoint == "request":  # the data service it shapes does not exist yet
        return door.accepted(envelope, "subject")
    return door.accepted(
        envelope, "subject", data_service=f"{QUERIES_PATH}/data-services/{envelope.subject}"
    )


_CREATES = (CreateDataServiceV2, CreateDataService)


def _ensure_targets_exist(w: wiring.DataServicesWiring, command: Message) -> None:
    """A command for something that will never exist is refused here, not retried until it
    dies; a data service whose creation was accepted but not processed yet is let through."""
    store, c = w.platform.store, w.collections
    if isinstance(command, RegisterExpert):
        return
    expert_code = getattr(command, "expert_code", None)
    if expert_code and store.get(c.experts, expert_code) is None:
        raise HttpError(404, "expert_not_found", "no such expert", field="expert_code")
    if isinstance(command, CreateDataServiceV2 | SubmitDataRequest):
        if store.get(c.subscriptions, command.subscription_id) is None:
            raise HttpError(
                404, "subscription_not_found", "no such subscription", field="subscription_id"
            )
        return
    subject = command.subject
    if store.get(c.services, subject) is not None:
        return
    # A creation accepted before v2 was deployed was logged as v1.
    if any(w.commands.accepted_for(subject, t.TYPE) for t in _CREATES):
        return
    raise HttpError(404, "data_service_not_found", "no such data service")


def _command(endpoint: str, args: dict[str, Any], body: dict[str, Any], command_id: str) -> Command:
    """Validate at the door: schema first, then the rules a command can be checked against
    without state, so a client learns at once what is wrong."""
    if endpoint == "create":
        body = {**body, "data_service_id": derived_id(command_id, "data_service")}
        # A body of the v1 shape (`client` with names) is still taken, checked as before,
        # and published as v2: the names stop here, never on the topic.
        if "client" in body:
            create = parse_payload(CreateDataService, body).upgraded()
        else:
            create = parse_payload(CreateDataServiceV2, body)
        validate_create(create)
        return create
    if endpoint == "request":
        request = parse_payload(
            SubmitDataRequest, {**body, "subscription_id": args["subscription_id"]}
        )
        delivery_mode(request.cloud)
        validate_dataset_code(request.dataset.code)
        return request
    if endpoint == "register":
        register = parse_payload(RegisterExpert, body)
        Expert.register(register, utc_now())  # the registry's rules, on a throwaway
        return register
    model = _SERVICE_COMMANDS[endpoint]
    return parse_payload(model, {**body, "data_service_id": args["data_service_id"]})


@functions_framework.http
@answers_errors
@serves_dead_letters(lambda: _wiring().platform)
def data_services_queries_http(request: flask.Request) -> flask.Response:
    w = _wiring()
    store, c = w.platform.store, w.collections
    endpoint, args = match_route(_QUERY_ROUTES, request)
    if endpoint == "get":
        refuse_unknown_parameters(request.args, set())
        found = queries.get_data_service(store, c, args["data_service_id"])
        return _found(found, "data_service_not_found", "no such data service")
    if endpoint == "manifest":
        refuse_unknown_parameters(request.args, {"chunk"})
        raw = request.args.get("chunk", "0")
        if not raw.isdigit() or len(raw) > 6:
            raise HttpError(400, "invalid_chunk", "chunk is a whole number", field="chunk")
        page = queries.manifest_page(store, c, args["data_service_id"], int(raw))
        return _found(page, "manifest_not_found", "no such manifest chunk")
    if endpoint == "expert":
        refuse_unknown_parameters(request.args, set())
        return _found(queries.get_expert(store, c, args["expert_code"]), "expert_not_found", "")
    if endpoint in ("list", "assignments"):
        refuse_unknown_parameters(request.args, {"client_code", "limit", "cursor"} - (
            {"client_code"} if endpoint == "assignments" else set()
        ))  # fmt: skip
        limit, cursor = page_size(request.args.get("limit")), request.args.get("cursor")
        if endpoint == "assignments":
            return json_response(
                queries.assignments_of_expert(
                    store, c, args["expert_code"], limit=limit, cursor=cursor
                )
            )
        client_code = request.args.get("client_code", "")
        if not client_code:
            raise HttpError(
                400, "missing_parameter", "client_code is required", field="client_code"
            )
        return json_response(
            queries.data_services_of_client(store, c, client_code, limit=limit, cursor=cursor)
        )
    refuse_unknown_parameters(request.args, set())
    status = w.commands.status(args["command_id"])
    return _found(status, "command_not_found", "no such command")


def _found(value: dict[str, Any] | None, reason: str, detail: str) -> flask.Response:
    if value is None:
        raise HttpError(404, reason, detail)
    return json_response(value)
