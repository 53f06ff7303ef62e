"""Which saga an event belongs to, and as what.

First as the reply to one of its commands: the event's causation id (or, for a context's
CommandRejected, the command id it names) is the id of a command the saga sent, recorded
as a route when it was sent, with its step and phase. Otherwise by key: a field of the
event (a data service id, a subscription id) holds the value of a fact the saga declared
as a route, which is how the client's payment, a delivery finished by chunks, or a cancel
from outside find it. Correlation ids are not used to route: a client may reuse one.
"""

from __future__ import annotations

from collections.abc import Iterable

from functions.sagas.definition import SagaDefinition
from functions.sagas.engine import Route, command_route, key_route
from functions.sagas.unit_of_work import SagasUnitOfWork
from shared.domain.messages import CommandRejected
from shared.ports.envelope import Envelope


def route_fields(definitions: Iterable[SagaDefinition]) -> tuple[str, ...]:
    """Event fields that route by key, the most specific first (a definition lists its
    routes from the broadest, the subscription, to the narrowest)."""
    fields: list[str] = []
    for definition in definitions:
        for _, field in reversed(definition.routes):
            if field not in fields:
                fields.append(field)
    return tuple(fields)


def find_saga(
    uow: SagasUnitOfWork, envelope: Envelope, fields: tuple[str, ...]
) -> tuple[str, Route] | None:
    commands = [envelope.causation_id]
    if isinstance(envelope.payload, CommandRejected):
        commands.insert(0, envelope.payload.command_id)
    for command_id in filter(None, commands):
        found = uow.route(command_route(command_id))
        if found is not None:
            route = Route(step=found["step"], phase=found["phase"], command_id=command_id)
            return str(found["saga_id"]), route
    for field in fields:
        value = getattr(envelope.payload, field, None)
        if isinstance(value, str) and value:
            found = uow.route(key_route(field, value))
            if found is not None:
                return str(found["saga_id"]), Route()
    return None
