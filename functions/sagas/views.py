"""What the sagas doors answer: their read models, part of the context's published
contract with messages.py. The doors (doors.py) answer them and generate their
GET /openapi.json from them; the api (functions/api/context_views.py) reads the doors'
answers into the same models, so the two cannot drift.
"""

from __future__ import annotations

from pydantic import Field

from functions.sagas.domain import LogStatus, SagaStatus, StepStatus
from shared.entrypoints.door_app import ReadModel


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
