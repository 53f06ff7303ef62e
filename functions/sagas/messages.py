"""The sagas context's contract: its own events (schema v1) and internal commands.

Its events are integration events: the notifications context tells the client from them
(choreography), so a client hears "ready" only from SagaCompleted, which is announced only
when every step of the saga is done. They carry ids and codes, never personal data.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from shared.domain.messages import Command, CommandRejected, Event
from shared.domain.read_models import ReadModel
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


class SagaStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    # A compensation kept failing: an operator must act (retry), never silently.
    STUCK = "STUCK"


class StepStatus(StrEnum):
    WAITING = "WAITING"  # its predecessors are not done
    ACTIVE = "ACTIVE"  # its command is sent (or its event awaited)
    DONE = "DONE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # never started: the saga failed before
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"  # undone, or nothing to undo
    STUCK = "STUCK"


class LogStatus(StrEnum):
    RECEIVED = "RECEIVED"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


# -- read models: what this context's doors answer (the api reads the same models) --------
class SentView(ReadModel):
    """One command of a step in flight; a resend keeps its id."""

    command_id: str
    command_type: str
    attempt: int
    sent_at: str
    resend_at: str
    sends: int = 1
    refused: bool = False


class StepView(ReadModel):
    name: str
    status: StepStatus
    started_at: str | None = None
    deadline_at: str | None = None
    ended_at: str | None = None
    done_order: int | None = None
    forward: SentView | None = None
    compensation: SentView | None = None
    compensation_sends: int = 0
    failures: int = 0
    reason: str | None = None


class SagaView(ReadModel):
    """The saga document, whole: it holds ids, codes and reasons only. A saga stored before
    a field was added lacks it."""

    saga_id: str
    definition: str
    subscription_id: str
    client_code: str
    correlation_id: str
    status: SagaStatus
    started_at: str
    deadline_at: str | None
    ended_at: str | None = None
    failed_step: str | None = None
    failure: str | None = None
    wake_at: str | None = None
    log_length: int = 0
    done_count: int = 0
    facts: dict[str, str] = Field(default_factory=dict)
    steps: list[StepView]
    version: int


class SagaLogEntry(ReadModel):
    saga_id: str
    seq: int
    at: str
    step: str
    phase: str  # forward | compensation | saga
    status: LogStatus
    message_id: str | None
    message_type: str | None
    command_ids: list[str]
    reason: str | None
