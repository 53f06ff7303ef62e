"""Cloud Function entry points of the data_services context: thin, one hop to a handler.

- data_services_commands_http: validates a command, records and publishes it, answers 202.
- ENTRY_POINTS: one function per consumed message of handlers.HANDLERS, made from it, each
  behind its own filtered trigger subscription: the commands, the chunk commands, and the
  projections of ImageAnonymized and SubscriptionCreated; and
  data_services_record_dead_letter, which records what died on data-services-dead-letter.
- data_services_queries_http: the read side (queries.py), the status of a command and the
  context's dead letters.
"""

from __future__ import annotations

import flask
import functions_framework

from functions import bootstrap
from functions.data_services import doors, wiring
from functions.data_services.handlers import HANDLERS
from functions.data_services.messages import NAMES
from functions.ingestion.messages import ImageAnonymized
from functions.subscriptions.messages import SubscriptionCreated
from shared.domain.messages import Message
from shared.entrypoints.http_app import serve
from shared.entrypoints.pubsub import CloudEventLike, consume, entry_points, handled_by
from shared.logging import get_logger

log = get_logger(__name__)


def _wiring() -> wiring.DataServicesWiring:
    return bootstrap.context(wiring.build)


def _consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
    w = _wiring()
    consume(
        cloud_event,
        expects,
        handled_by(HANDLERS[expects], w.processor, w.delivery, w.projections, w.review),
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
        sealer=w.platform.sealer,
    )


# data_services_<command> / data_services_on_<event> for each message of handlers.HANDLERS,
# and data_services_record_dead_letter (main.py exports them). The projections were deployed
# under the names of their steps before the names were derived, and keep them.
ENTRY_POINTS = entry_points(
    NAMES,
    HANDLERS,
    _consume,
    lambda: _wiring().platform.dead_letters,
    renamed={
        ImageAnonymized: "data_services_project_image",
        SubscriptionCreated: "data_services_project_subscription",
    },
)


@functions_framework.http
def data_services_commands_http(request: flask.Request) -> flask.Response:
    """Data services, experts, data requests: doors.commands."""
    return serve(doors.commands, request)


@functions_framework.http
def data_services_queries_http(request: flask.Request) -> flask.Response:
    """Data services, experts, a command's status, the dead letters: doors.queries."""
    return serve(doors.queries, request)


@functions_framework.http
def data_services_contacts_http(request: flask.Request) -> flask.Response:
    """An expert's contact, for the notifications context only: doors.contacts."""
    return serve(doors.contacts, request)
