"""Cloud Function entry points of the notifications context: thin, one hop to a handler.

- ENTRY_POINTS: one function per message of handlers.HANDLERS, made from it, each behind its
  own filtered trigger subscription: notifications_on_<event> for each event of another
  context it reacts to (handlers.notify), notifications_deliver_notification (one delivery
  attempt, delivery.py), notifications_set_recipient_channels (a recipient's channel
  preferences); and notifications_record_dead_letter, which records what died on
  notifications-dead-letter.
- notifications_commands_http: set channels (202), and the confirmation link
  (GET shows a button, POST confirms: a mail scanner that fetches links confirms nothing).
- notifications_queries_http: the read side (queries.py) and the context's dead letters.
"""

from __future__ import annotations

import flask
import functions_framework

from functions import bootstrap
from functions.notifications import doors, wiring
from functions.notifications.handlers import HANDLERS
from functions.notifications.messages import NAMES
from shared.domain.messages import Message
from shared.entrypoints.http_app import serve
from shared.entrypoints.pubsub import CloudEventLike, consume, entry_points, handled_by
from shared.logging import get_logger

log = get_logger(__name__)


def _wiring() -> wiring.NotificationsWiring:
    return bootstrap.context(wiring.build)


def _consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
    w = _wiring()
    consume(
        cloud_event,
        expects,
        handled_by(HANDLERS[expects], w.processor, w.delivery, w.contacts, w.centers),
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
        sealer=w.platform.sealer,
    )


# notifications_on_<event> / notifications_<command> for each message of handlers.HANDLERS,
# and notifications_record_dead_letter (main.py exports them).
ENTRY_POINTS = entry_points(NAMES, HANDLERS, _consume, lambda: _wiring().platform.dead_letters)


@functions_framework.http
def notifications_commands_http(request: flask.Request) -> flask.Response:
    """A recipient's channels, the confirmation link: doors.commands."""
    return serve(doors.commands, request)


@functions_framework.http
def notifications_queries_http(request: flask.Request) -> flask.Response:
    """Notifications, a command's status, the dead letters: doors.queries."""
    return serve(doors.queries, request)
