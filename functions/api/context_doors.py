"""The contexts' doors the api calls for its data routes, by entry point, and how a door's
answer becomes the api's.

The api holds no other context's code or store: it sends commands to a context's command
door and reads its query door (shared/ports/doors.py), over HTTP with an ID token in the
cloud, in-process in unit tests. Each door here must be in infra/topology.yaml's
`cloud.access.api.invokes` (a unit test holds the two together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.entrypoints.http import HttpError
from shared.ports.doors import DoorAnswer, DoorUnavailable

SUBSCRIPTIONS_COMMANDS = "subscriptions_commands_http"
DATA_SERVICES_COMMANDS = "data_services_commands_http"
SUBSCRIPTIONS_QUERIES = "subscriptions_queries_http"
INGESTION_QUERIES = "ingestion_queries_http"
INGESTION_COMMANDS = "ingestion_commands_http"  # an operator's review of quarantine
DATA_SERVICES_QUERIES = "data_services_queries_http"
NOTIFICATIONS_QUERIES = "notifications_queries_http"
NOTIFICATIONS_COMMANDS = "notifications_commands_http"  # confirmation links
SAGAS_QUERIES = "sagas_queries_http"
SAGAS_OPERATIONS = "sagas_operations_http"
# Every context that records dead letters, and the queries door that shows them.
DEAD_LETTER_DOORS = {
    "data_services": DATA_SERVICES_QUERIES,
    "ingestion": INGESTION_QUERIES,
    "notifications": NOTIFICATIONS_QUERIES,
    "sagas": SAGAS_QUERIES,
    "subscriptions": SUBSCRIPTIONS_QUERIES,
}


# The contexts the api sends commands to: their command door, the query door that tells
# what became of a command, and the field of the door's 202 that names the command's subject.
@dataclass(frozen=True)
class CommandDoors:
    context: str
    commands: str
    queries: str
    subject_field: str


SUBSCRIPTION_COMMANDS = CommandDoors(
    "subscriptions", SUBSCRIPTIONS_COMMANDS, SUBSCRIPTIONS_QUERIES, "subscription_id"
)
DATA_SERVICE_COMMANDS = CommandDoors(
    "data_services", DATA_SERVICES_COMMANDS, DATA_SERVICES_QUERIES, "subject"
)
QUARANTINE_COMMANDS = CommandDoors(
    "ingestion", INGESTION_COMMANDS, INGESTION_QUERIES, "rejection_id"
)
# A command record without a context was sent before data services took commands: a
# subscription's.
COMMAND_DOORS = {"": SUBSCRIPTION_COMMANDS} | {
    d.context: d for d in (SUBSCRIPTION_COMMANDS, DATA_SERVICE_COMMANDS, QUARANTINE_COMMANDS)
}
DOORS = frozenset(
    {
        SUBSCRIPTIONS_COMMANDS,
        DATA_SERVICES_COMMANDS,
        INGESTION_COMMANDS,
        SAGAS_OPERATIONS,
        NOTIFICATIONS_COMMANDS,
        *DEAD_LETTER_DOORS.values(),
    }
)  # every door above


def segment(value: str) -> str:
    """A path id as one path segment (the door decodes it; its router checks it). Dots too
    are escaped: an HTTP client removes the segments "." and ".." (RFC 3986 5.2.4), which
    would send `/subscriptions/.` to the listing `/subscriptions/` instead of to a 404."""
    return quote(value, safe="").replace(".", "%2E")


def refusal(answer: DoorAnswer) -> HttpError:
    """A door's 4xx, answered by the api as it came: status, reason, detail, field."""
    error = answer.error
    return HttpError(
        answer.status,
        str(error.get("reason") or "refused"),
        str(error.get("detail") or ""),
        error.get("field") or None,
    )


def answered(target: str, answer: DoorAnswer, expected: int = 200) -> Any:
    """The body of the answer the api expects; a refusal is raised as the door gave it, any
    other success is a door that broke its contract (503, like one that did not answer)."""
    if not answer.ok:
        raise refusal(answer)
    if answer.status != expected:
        raise DoorUnavailable(f"{target} answered {answer.status}, not {expected}")
    return answer.body
