"""Every Cloud Function entry point of SaludTech, one source tree deployed as N functions.

Each name in `__all__` is a deploy target (`--entry-point`) and the function one entry of
infra/topology.yaml calls (tests/unit/test_deployment_map.py keeps the two and every
context's HANDLERS in step).

One hop to the handler. A Pub/Sub function is made from its context's HANDLERS and named
after the message it consumes: target `<context>_<command>` or `<context>_on_<event>` (snake
case) runs that message's entry of functions/<context>/handlers.py HANDLERS, e.g.
`data_services_assign_expert` is HANDLERS[AssignExpert] there (handlers.assign_expert) and
`notifications_on_saga_stuck` is HANDLERS[SagaStuck] of notifications (handlers.notify).
Three targets keep the names they were deployed under before the rule (the `renamed=` of
functions/data_services/entrypoints.py and functions/sagas/entrypoints.py say which).
`<context>_record_dead_letter` records what died on the context's dead-letter topic. The
others (the `*_http` doors, `sagas_tick`, `ingestion_on_upload`) are written out in
functions/<context>/entrypoints.py.
"""

from functions.api.entrypoints import api_http
from functions.data_services import entrypoints as data_services
from functions.data_services.entrypoints import (
    data_services_commands_http,
    data_services_contacts_http,
    data_services_queries_http,
)
from functions.identity.entrypoints import (
    identity_commands_http,
    identity_contacts_http,
    identity_queries_http,
)
from functions.ingestion import entrypoints as ingestion
from functions.ingestion.entrypoints import ingestion_commands_http, ingestion_queries_http
from functions.notifications import entrypoints as notifications
from functions.notifications.entrypoints import (
    notifications_commands_http,
    notifications_queries_http,
)
from functions.sagas import entrypoints as sagas
from functions.sagas.entrypoints import sagas_operations_http, sagas_queries_http, sagas_tick
from functions.subscriptions import entrypoints as subscriptions
from functions.subscriptions.entrypoints import (
    subscriptions_commands_http,
    subscriptions_queries_http,
)

# Written out: the HTTP doors and the sagas' scheduled tick.
_WRITTEN = (
    api_http,
    data_services_commands_http,
    data_services_contacts_http,
    data_services_queries_http,
    identity_commands_http,
    identity_contacts_http,
    identity_queries_http,
    ingestion_commands_http,
    ingestion_queries_http,
    notifications_commands_http,
    notifications_queries_http,
    sagas_operations_http,
    sagas_queries_http,
    sagas_tick,
    subscriptions_commands_http,
    subscriptions_queries_http,
)
# Made from each context's HANDLERS (shared/entrypoints/pubsub.py: entry_points()), with its
# dead-letter recorder and ingestion's upload function. Attributes of this module, since
# functions-framework finds a target by its name here.
_MADE = (data_services, ingestion, notifications, sagas, subscriptions)
for _context in _MADE:
    globals().update(_context.ENTRY_POINTS)

__all__ = [function.__name__ for function in _WRITTEN]
__all__ += [name for context in _MADE for name in context.ENTRY_POINTS]
