"""The sagas context's contract: its own events (schema v1) and internal commands.

Its events are integration events: the notifications context tells the client from them
(choreography), so a client hears "ready" only from SagaCompleted, which is announced only
when every step of the saga is done. They carry ids and codes, never personal data.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.domain.messages import Command, CommandRejected, Event
from shared.service.context import ContextNames

_PREFIX = "co.saludtech.sagas.saga"
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64)]
Timestamp = Annotated[str, Field(description="RFC 3339, UTC")]


# -- events --------------------------------------------------------------------------------
class SagaCompleted(Event):
    """Every step is done: what the client was sold is ready."""

    TYPE = f"{_PREFIX}.completed.v1"
    SUBJECT_FIELD = "saga_id"

    saga_id: Id
    definition: Code
    subscription_id: Id
    client_code: Code
    # The ids the saga collected (payment, data service, expert): codes only.
    facts: dict[str, str]
    completed_at: Timestamp


class SagaCompensated(Event):
    """A step failed (or the saga was cancelled) and everything done has been undone."""

    TYPE = f"{_PREFIX}.compensated.v1"
    SUBJECT_FIELD = "saga_id"

    saga_id: Id
    definition: Code
    subscription_id: Id
    client_code: Code
    failed_step: Code
    reason: Code
    compensated_at: Timestamp
    # The steps whose effect was undone, in the order they were undone (e.g. "data_service",
    # "payment": refunded, "subscription"), so the client can be told what was reversed.
    # Optional (additive): an empty list says nothing of what was undone.
    undone: list[Code] = Field(default_factory=list)


class SagaStuck(Event):
    """A compensation kept failing: an operator must look (`infra.local saga retry`)."""

    TYPE = f"{_PREFIX}.stuck.v1"
    SUBJECT_FIELD = "saga_id"

    saga_id: Id
    definition: Code
    subscription_id: Id
    step: Code
    reason: Code
    stuck_at: Timestamp


class SagasCommandRejected(CommandRejected):
    TYPE = "co.saludtech.sagas.command.rejected.v1"
    SUBJECT_FIELD = "command_id"


# -- internal commands (processed in-process, never published) ------------------------------
class WakeSaga(Command):
    """A deadline or a resend time of a saga has come (issued by the scheduled tick with an
    id derived from the saga and the due time, so two ticks wake it once)."""

    INTERNAL = True
    TYPE = f"{_PREFIX}.wake.v1"
    SUBJECT_FIELD = "saga_id"

    saga_id: Id
    due: Timestamp


class RetrySaga(Command):
    """An operator retries the stuck compensations of a saga."""

    INTERNAL = True
    TYPE = f"{_PREFIX}.retry.v1"
    SUBJECT_FIELD = "saga_id"

    saga_id: Id


NAMES = ContextNames("sagas", SagasCommandRejected)
