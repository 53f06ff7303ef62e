"""Cloud Function entry points of the sagas context: thin, one hop to a handler.

- sagas_on_<event>: one function per consumed event (handlers.HANDLERS), each behind its
  own filtered trigger subscription on the producing context's events topic.
- sagas_tick: the scheduled tick (Cloud Scheduler in the cloud, the local stack's runner
  locally): wakes every saga whose deadline or resend time has come.
- sagas_operations_http: `POST /sagas/{id}/retry`, an operator's retry of a stuck saga.
- sagas_queries_http: `GET /sagas/{id}`, `GET /sagas/{id}/log`,
  `GET /sagas?subscription_id=…` (or `?status=STUCK`), each `&client_code=…` to see only
  that client's; `GET /commands/{id}`, what became of a retry; the context's dead letters.
- sagas_record_dead_letter: records what died on sagas-dead-letter.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.data_services.messages import (
    DataServiceCancelled,
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    DataServicesCommandRejected,
    DataServiceStarted,
    DatasetPrepared,
    ExpertAssigned,
)
from functions.sagas import queries, wiring
from functions.sagas.domain import SagaStatus
from functions.sagas.messages import NAMES, RetrySaga
from functions.sagas.tick import wake_due_sagas
from functions.subscriptions.messages import (
    PaymentDeclined,
    PaymentRefunded,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCommandRejected,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.messages import Message
from shared.entrypoints.dead_letter_door import serves_dead_letters
from shared.entrypoints.http import HttpError, answers_errors, json_response, match_route
from shared.entrypoints.pubsub import CloudEventLike, consume, processed_by, record_dead_letter
from shared.logging import bind_message_context, get_logger
from shared.ports.envelope import Envelope, derived_id
from shared.service.pagination import page_size, refuse_unknown_parameters

log = get_logger(__name__)

_QUERY_ROUTES = Map(
    [
        Rule("/sagas", endpoint="list", methods=["GET"]),
        Rule("/sagas/<saga_id>", endpoint="get", methods=["GET"]),
        Rule("/sagas/<saga_id>/log", endpoint="log", methods=["GET"]),
        Rule("/commands/<command_id>", endpoint="command", methods=["GET"]),
    ],
    strict_slashes=False,
)
_OPERATION_ROUTES = Map(
    [Rule("/sagas/<saga_id>/retry", endpoint="retry", methods=["POST"])], strict_slashes=False
)


def _wiring() -> wiring.SagasWiring:
    return bootstrap.context(wiring.build)


def _consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
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
def sagas_on_subscription_created(cloud_event: CloudEventLike) -> None:
    """SubscriptionCreated → handlers.start_on_subscription_created."""
    _consume(cloud_event, SubscriptionCreated, "sagas_on_subscription_created")


@functions_framework.cloud_event
def sagas_on_plan_changed(cloud_event: CloudEventLike) -> None:
    """PlanChanged → handlers.on_plan_changed."""
    _consume(cloud_event, PlanChanged, "sagas_on_plan_changed")


@functions_framework.cloud_event
def sagas_on_subscription_paid(cloud_event: CloudEventLike) -> None:
    """SubscriptionPaid → handlers.on_reply."""
    _consume(cloud_event, SubscriptionPaid, "sagas_on_subscription_paid")


@functions_framework.cloud_event
def sagas_on_payment_declined(cloud_event: CloudEventLike) -> None:
    """PaymentDeclined → handlers.on_reply."""
    _consume(cloud_event, PaymentDeclined, "sagas_on_payment_declined")


@functions_framework.cloud_event
def sagas_on_subscription_cancelled(cloud_event: CloudEventLike) -> None:
    """SubscriptionCancelled → handlers.on_reply."""
    _consume(cloud_event, SubscriptionCancelled, "sagas_on_subscription_cancelled")


@functions_framework.cloud_event
def sagas_on_payment_refunded(cloud_event: CloudEventLike) -> None:
    """PaymentRefunded → handlers.on_reply."""
    _consume(cloud_event, PaymentRefunded, "sagas_on_payment_refunded")


@functions_framework.cloud_event
def sagas_on_subscriptions_command_rejected(cloud_event: CloudEventLike) -> None:
    """SubscriptionCommandRejected → handlers.on_reply."""
    _consume(cloud_event, SubscriptionCommandRejected, "sagas_on_subscriptions_command_rejected")


@functions_framework.cloud_event
def sagas_on_data_service_created(cloud_event: CloudEventLike) -> None:
    """DataServiceCreated → handlers.on_reply."""
    _consume(cloud_event, DataServiceCreated, "sagas_on_data_service_created")


@functions_framework.cloud_event
def sagas_on_expert_assigned(cloud_event: CloudEventLike) -> None:
    """ExpertAssigned → handlers.on_reply."""
    _consume(cloud_event, ExpertAssigned, "sagas_on_expert_assigned")


@functions_framework.cloud_event
def sagas_on_dataset_prepared(cloud_event: CloudEventLike) -> None:
    """DatasetPrepared → handlers.on_reply."""
    _consume(cloud_event, DatasetPrepared, "sagas_on_dataset_prepared")


@functions_framework.cloud_event
def sagas_on_data_service_started(cloud_event: CloudEventLike) -> None:
    """DataServiceStarted → handlers.on_reply."""
    _consume(cloud_event, DataServiceStarted, "sagas_on_data_service_started")


@functions_framework.cloud_event
def sagas_on_data_service_delivered(cloud_event: CloudEventLike) -> None:
    """DataServiceDelivered → handlers.on_reply."""
    _consume(cloud_event, DataServiceDelivered, "sagas_on_data_service_delivered")


@functions_framework.cloud_event
def sagas_on_data_service_failed(cloud_event: CloudEventLike) -> None:
    """DataServiceFailed → handlers.on_reply."""
    _consume(cloud_event, DataServiceFailed, "sagas_on_data_service_failed")


@functions_framework.cloud_event
def sagas_on_data_service_cancelled(cloud_event: CloudEventLike) -> None:
    """DataServiceCancelled → handlers.on_reply."""
    _consume(cloud_event, DataServiceCancelled, "sagas_on_data_service_cancelled")


@functions_framework.cloud_event
def sagas_on_data_services_command_rejected(cloud_event: CloudEventLike) -> None:
    """DataServicesCommandRejected → handlers.on_reply."""
    _consume(cloud_event, DataServicesCommandRejected, "sagas_on_data_services_command_rejected")


@functions_framework.cloud_event
def sagas_record_dead_letter(cloud_event: CloudEventLike) -> None:
    """Whatever reached sagas-dead-letter → shared/service/dead_letters.py."""
    w = _wiring()
    record_dead_letter(
        cloud_event,
        function="sagas_record_dead_letter",
        context=NAMES,
        dead_letters=w.platform.dead_letters,
    )


@functions_framework.http
@answers_errors
def sagas_tick(request: flask.Request) -> flask.Response:
    """Wake every saga that is due (tick.py)."""
    bind_message_context(function="sagas_tick")
    return json_response(wake_due_sagas(_wiring()))


@functions_framework.http
@answers_errors
def sagas_operations_http(request: flask.Request) -> flask.Response:
    w = _wiring()
    _, args = match_route(_OPERATION_ROUTES, request)
    saga_id = args["saga_id"]
    found = queries.get_saga(w.platform.store, saga_id, w.collections)
    if found is None:
        raise HttpError(404, "saga_not_found", "no such saga")
    if found["status"] != SagaStatus.STUCK.value:
        raise HttpError(409, "saga_not_stuck", f"the saga is {found['status']}")
    envelope = Envelope(
        payload=RetrySaga(saga_id=saga_id),
        source=NAMES.source,
        id=derived_id("saga-retry", saga_id, str(found["version"])),
        correlation_id=str(found["correlation_id"]),
    )
    bind_message_context(
        function="sagas_operations_http",
        correlation_id=envelope.correlation_id,
        message_id=envelope.id,
        message_type=envelope.type,
    )
    result = w.processor.process(envelope)
    log.info("saga_retry", outcome=result.outcome)
    if result.outcome == "rejected":
        raise HttpError(409, result.reason or "rejected", "the saga refused the retry")
    # The retry is a command: its id (X-Command-ID) finds its outcome in the sagas' inbox.
    return json_response(
        queries.get_saga(w.platform.store, saga_id, w.collections),
        status=202,
        headers={"X-Command-ID": envelope.id},
    )


@functions_framework.http
@answers_errors
@serves_dead_letters(lambda: _wiring().platform)
def sagas_queries_http(request: flask.Request) -> flask.Response:
    w = _wiring()
    endpoint, args = match_route(_QUERY_ROUTES, request)
    store, collections = w.platform.store, w.collections
    if endpoint == "get":
        # `client_code`: only that client's (another's is answered as if it did not exist).
        refuse_unknown_parameters(request.args, {"client_code"})
        found = queries.get_saga(store, args["saga_id"], collections)
        client_code = request.args.get("client_code")
        if found is None or client_code not in (None, found.get("client_code")):
            raise HttpError(404, "saga_not_found", "no such saga")
        return json_response(found)
    if endpoint == "command":
        refuse_unknown_parameters(request.args, set())
        status = queries.command_status(store, w.processor.inbox_collection, args["command_id"])
        if status is None:
            raise HttpError(404, "command_not_found", "no such command")
        return json_response(status)
    if endpoint == "log":
        refuse_unknown_parameters(request.args, {"limit", "cursor"})
        if queries.get_saga(store, args["saga_id"], collections) is None:
            raise HttpError(404, "saga_not_found", "no such saga")
        return json_response(
            queries.saga_log(
                store,
                args["saga_id"],
                collections,
                limit=page_size(request.args.get("limit"), default=100),
                cursor=request.args.get("cursor"),
            )
        )
    known = {"subscription_id", "status", "client_code", "limit", "cursor"}
    refuse_unknown_parameters(request.args, known)
    page = _listing(w, request.args)
    client_code = request.args.get("client_code")
    if client_code is not None:  # never another client's, whatever the filter matched
        page["items"] = [s for s in page["items"] if s.get("client_code") == client_code]
    return json_response(page)


def _listing(w: wiring.SagasWiring, args: Any) -> dict[str, Any]:
    limit, cursor = page_size(args.get("limit")), args.get("cursor")
    subscription_id, status = args.get("subscription_id", ""), args.get("status", "")
    if subscription_id and not status:
        return queries.sagas_of_subscription(
            w.platform.store, subscription_id, w.collections, limit=limit, cursor=cursor
        )
    if status and not subscription_id:
        if status not in SagaStatus.__members__:
            raise HttpError(400, "invalid_status", "a saga status, e.g. STUCK", field="status")
        return queries.sagas_in_status(
            w.platform.store, status, w.collections, limit=limit, cursor=cursor
        )
    raise HttpError(
        400, "missing_parameter", "give subscription_id or status", field="subscription_id"
    )
