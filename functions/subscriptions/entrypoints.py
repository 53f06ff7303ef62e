"""Cloud Function entry points of the subscriptions context: thin, one hop to a handler.

- subscriptions_commands_http: validates a command, records and publishes it, answers 202.
- ENTRY_POINTS: subscriptions_create_subscription, _change_plan, _cancel_subscription,
  _pay_subscription, _refund_payment: one function per command of handlers.HANDLERS, made
  from it, each behind its own filtered trigger subscription; and
  subscriptions_record_dead_letter, which records what died on subscriptions-dead-letter.
- subscriptions_queries_http: the read side (queries.py), the status of a command and the
  context's dead letters.
"""

from __future__ import annotations

import flask
import functions_framework

from functions import bootstrap
from functions.subscriptions import doors, wiring
from functions.subscriptions.handlers import HANDLERS
from functions.subscriptions.messages import NAMES
from shared.domain.messages import Message
from shared.entrypoints.http_app import serve
from shared.entrypoints.pubsub import CloudEventLike, consume, entry_points, handled_by
from shared.logging import get_logger

log = get_logger(__name__)


def _wiring() -> wiring.SubscriptionsWiring:
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


# subscriptions_<command> for each command of handlers.HANDLERS, and
# subscriptions_record_dead_letter (main.py exports them).
ENTRY_POINTS = entry_points(NAMES, HANDLERS, _consume, lambda: _wiring().platform.dead_letters)


@functions_framework.http
def subscriptions_commands_http(request: flask.Request) -> flask.Response:
    """Create, change, cancel, pay: doors.commands."""
    return serve(doors.commands, request)


@functions_framework.http
def subscriptions_queries_http(request: flask.Request) -> flask.Response:
    """Subscriptions, a command's status, the dead letters: doors.queries."""
    return serve(doors.queries, request)
