"""Cloud Function entry points of the sagas context: thin, one hop to a handler.

- ENTRY_POINTS: sagas_on_<event>, one function per consumed event of handlers.HANDLERS,
  made from it, each behind its own filtered trigger subscription on the producing
  context's events topic; and sagas_record_dead_letter.
- sagas_tick: the scheduled tick (Cloud Scheduler in the cloud, the local stack's runner
  locally): wakes every saga whose deadline or resend time has come.
- sagas_operations_http: `POST /sagas/{id}/retry`, an operator's retry of a stuck saga.
- sagas_queries_http: `GET /sagas/{id}`, `GET /sagas/{id}/log`,
  `GET /sagas?subscription_id=…` (or `?status=STUCK`), each `&client_code=…` to see only
  that client's; `GET /commands/{id}`, what became of a retry; the context's dead letters.
"""

from __future__ import annotations

import flask
import functions_framework

from functions import bootstrap
from functions.sagas import doors, wiring
from functions.sagas.handlers import HANDLERS
from functions.sagas.messages import NAMES
from functions.subscriptions.messages import SubscriptionCommandRejected
from shared.domain.messages import Message
from shared.entrypoints.http_app import serve
from shared.entrypoints.pubsub import CloudEventLike, consume, entry_points, handled_by
from shared.logging import get_logger

log = get_logger(__name__)


def _wiring() -> wiring.SagasWiring:
    return bootstrap.context(wiring.build)


def _consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
    w = _wiring()
    consume(
        cloud_event,
        expects,
        handled_by(HANDLERS[expects], w.processor),
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
        sealer=w.platform.sealer,
    )


# sagas_on_<event> for each event of handlers.HANDLERS, and sagas_record_dead_letter (main.py
# exports them). SubscriptionCommandRejected's function was deployed under the name of its
# topic's context (subscriptions), before the names were derived, and keeps it.
ENTRY_POINTS = entry_points(
    NAMES,
    HANDLERS,
    _consume,
    lambda: _wiring().platform.dead_letters,
    renamed={SubscriptionCommandRejected: "sagas_on_subscriptions_command_rejected"},
)


@functions_framework.http
def sagas_tick(request: flask.Request) -> flask.Response:
    """Wake every saga that is due: doors.tick."""
    return serve(doors.tick, request)


@functions_framework.http
def sagas_operations_http(request: flask.Request) -> flask.Response:
    """An operator's retry of a stuck saga: doors.operations."""
    return serve(doors.operations, request)


@functions_framework.http
def sagas_queries_http(request: flask.Request) -> flask.Response:
    """Sagas, their logs, a retry's status, the dead letters: doors.queries."""
    return serve(doors.queries, request)
