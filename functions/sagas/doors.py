"""The HTTP doors of the sagas context, each a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- queries (`sagas_queries_http`): a saga, its log, the sagas of a subscription or in a
  status (STUCK: what an operator looks for), each `?client_code=` to see only that
  client's; what became of an operator's retry; the context's dead letters.
- operations (`sagas_operations_http`): an operator's retry of a stuck saga.
- tick (`sagas_tick`): the scheduled tick (Cloud Scheduler in the cloud, the local stack's
  runner locally) wakes every saga whose deadline or resend time has come.
"""

from __future__ import annotations

from typing import Annotated, Any

import flask
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from functions import bootstrap
from functions.sagas import queries as read
from functions.sagas import wiring
from functions.sagas.messages import NAMES, RetrySaga, SagaLogEntry, SagaStatus, SagaView
from functions.sagas.tick import wake_due_sagas
from shared.domain.read_models import Page, ReadModel
from shared.entrypoints.command_door import add_command_status_route
from shared.entrypoints.dead_letter_door import add_dead_letter_route
from shared.entrypoints.door_app import (
    DocumentId,
    Limit,
    NoParameters,
    PageParameters,
    Parameters,
    QueryId,
    answer,
    answers,
    door_app,
    or_not_found,
)
from shared.entrypoints.http import HttpError
from shared.logging import bind_message_context, get_logger
from shared.ports.envelope import Envelope, derived_id

log = get_logger(__name__)
queries = door_app(
    "sagas queries",
    "Sagas as an operator sees them (ids, codes and reasons only), their logs, what became "
    "of a retry, the context's dead letters.",
)
operations = door_app("sagas operations", "An operator's retry of a stuck saga.")
tick = door_app("sagas tick", "The scheduled tick: wakes every saga that is due.")


def _wiring() -> wiring.SagasWiring:
    return bootstrap.context(wiring.build)


class SagaPath(BaseModel):
    saga_id: DocumentId


class ClientScope(Parameters):
    # Only that client's: another's is answered as if it did not exist.
    client_code: str | None = None


class SagaLogPage(PageParameters):
    limit: Limit = 100  # a whole saga's log, mostly


def _status(raw: Any) -> Any:
    if raw == "":
        return None
    if isinstance(raw, str) and raw not in SagaStatus.__members__:
        raise HttpError(400, "invalid_status", "a saga status, e.g. STUCK", field="status")
    return raw


class SagaListing(PageParameters):
    """By subscription (a client's sagas) or by status (an operator's), one of the two."""

    subscription_id: QueryId = None
    status: Annotated[SagaStatus | None, BeforeValidator(_status)] = None
    client_code: str | None = Field(None, description="never another client's")


# -- queries ---------------------------------------------------------------------------------
@queries.get("/sagas/<saga_id>", responses=answers(SagaView, 400, 404, 503))
def get_saga(path: SagaPath, query: ClientScope) -> flask.Response:
    """A saga."""
    w = _wiring()
    found = read.get_saga(w.platform.store, path.saga_id, w.collections)
    if found is None or query.client_code not in (None, found.get("client_code")):
        raise HttpError(404, "saga_not_found", "no such saga")
    return answer(SagaView, found)


@queries.get("/sagas/<saga_id>/log", responses=answers(Page[SagaLogEntry], 400, 404, 503))
def saga_log(path: SagaPath, query: SagaLogPage) -> flask.Response:
    """A saga's log, oldest first, as it happened."""
    w = _wiring()
    if read.get_saga(w.platform.store, path.saga_id, w.collections) is None:
        raise HttpError(404, "saga_not_found", "no such saga")
    page = read.saga_log(
        w.platform.store, path.saga_id, w.collections, limit=query.limit, cursor=query.cursor
    )
    return answer(Page[SagaLogEntry], page)


@queries.get("/sagas", responses=answers(Page[SagaView], 400, 503))
def list_sagas(query: SagaListing) -> flask.Response:
    """The sagas of a subscription, or in a status, newest first."""
    w = _wiring()
    store, c, page_at = (
        w.platform.store,
        w.collections,
        {"limit": query.limit, "cursor": query.cursor},
    )
    if query.subscription_id and query.status is None:
        page = read.sagas_of_subscription(store, query.subscription_id, c, **page_at)
    elif query.status is not None and not query.subscription_id:
        page = read.sagas_in_status(store, query.status.value, c, **page_at)
    else:
        raise HttpError(
            400, "missing_parameter", "give subscription_id or status", field="subscription_id"
        )
    if query.client_code is not None:  # never another client's, whatever the filter matched
        page["items"] = [s for s in page["items"] if s.get("client_code") == query.client_code]
    return answer(Page[SagaView], page)


def _command_status(command_id: str) -> dict[str, Any] | None:
    # An operator's retry is processed in the request that accepts it: its inbox record.
    w = _wiring()
    return read.command_status(w.platform.store, w.processor.inbox_collection, command_id)


add_command_status_route(queries, _command_status)
add_dead_letter_route(queries, lambda: _wiring().platform)


# -- operations ------------------------------------------------------------------------------
class RetryAccepted(SagaView):
    """202 of a retry: the saga as it is now. The retry is a command: its id (the
    X-Command-ID header) finds its outcome at the queries door's /commands/<id>."""

    model_config = ConfigDict(
        openapi_extra={  # type: ignore[typeddict-unknown-key]
            "headers": {"X-Command-ID": {"schema": {"type": "string"}}}
        }
    )


@operations.post(
    "/sagas/<saga_id>/retry", responses=answers(RetryAccepted, 400, 404, 409, 503, status=202)
)
def retry_saga(path: SagaPath, query: NoParameters) -> flask.Response:
    """Retry the stuck compensations of a saga."""
    w = _wiring()
    saga_id = path.saga_id
    found = or_not_found(
        read.get_saga(w.platform.store, saga_id, w.collections), "saga_not_found", "no such saga"
    )
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
    now = read.get_saga(w.platform.store, saga_id, w.collections)
    return answer(RetryAccepted, now or found, status=202, headers={"X-Command-ID": envelope.id})


# -- tick ------------------------------------------------------------------------------------
class TickAnswer(ReadModel):
    due: int
    woken: int
    retry_later: int  # a transient failure: that saga at the next tick


@tick.post("/", responses=answers(TickAnswer, 503))
def wake_sagas() -> flask.Response:
    """Wake every saga whose deadline or resend time has come (tick.py). Cloud Scheduler's
    body and headers are not read."""
    bind_message_context(function="sagas_tick")
    return answer(TickAnswer, wake_due_sagas(_wiring()))
