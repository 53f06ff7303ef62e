"""A saga's state and its log: pure Python, no I/O.

The state says where each step is; the log says what happened, entry by entry (RECEIVED
when a message for the saga arrives, PROCESSED when the saga acted on it, FAILED when a
step or a compensation failed), with the ids of the messages and the reason. New log
entries and routes are written by the unit of work in the transaction that saves the saga;
the commands the saga sends are recorded in the same transaction's outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from functions.sagas.messages import LogStatus, SagaStatus, StepStatus
from shared.domain.aggregate import Aggregate
from shared.domain.clock import rfc3339
from shared.ports.envelope import Envelope

ENDED = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED})


SAGA = "saga"  # the step name of entries about the saga as a whole


@dataclass
class Sent:
    """One command of a step in flight; a resend keeps its id."""

    command_id: str
    command_type: str
    attempt: int
    sent_at: str
    resend_at: str
    sends: int = 1
    # The receiver refused it: the next try is a new attempt (a new id), not a resend.
    refused: bool = False


@dataclass
class StepState:
    name: str
    status: StepStatus = StepStatus.WAITING
    started_at: str | None = None
    deadline_at: str | None = None
    ended_at: str | None = None
    # Position in the order steps were done: compensations run in the reverse order.
    done_order: int | None = None
    forward: Sent | None = None
    compensation: Sent | None = None
    # Sends of the compensation so far, across attempts (stuck past the action's maximum).
    compensation_sends: int = 0
    # Retryable failures so far (declined payments): the step fails at its max_failures.
    failures: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class LogEntry:
    seq: int
    at: str
    step: str
    phase: str  # forward | compensation | saga
    status: LogStatus
    message_id: str | None = None
    message_type: str | None = None
    command_ids: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(kw_only=True, eq=False)
class Saga(Aggregate):
    definition: str
    subscription_id: str
    client_code: str
    correlation_id: str
    status: SagaStatus
    started_at: str
    deadline_at: str
    steps: dict[str, StepState]
    facts: dict[str, str] = field(default_factory=dict)
    ended_at: str | None = None
    failed_step: str | None = None
    failure: str | None = None
    # The earliest time the tick must look at it (a deadline or a resend), None if never.
    wake_at: str | None = None
    log_length: int = 0
    done_count: int = 0
    # Written beside the saga by the unit of work, then forgotten.
    new_log: list[LogEntry] = field(default_factory=list)
    # Route id -> what it says (the saga, and for a command: its step and phase).
    new_routes: dict[str, dict[str, str]] = field(default_factory=dict)
    outgoing: list[tuple[str, Envelope]] = field(default_factory=list)
    touched: bool = False

    @property
    def has_changes(self) -> bool:
        return self.touched or super().has_changes

    def log(
        self,
        now: datetime,
        step: str,
        phase: str,
        status: LogStatus,
        *,
        message_id: str | None = None,
        message_type: str | None = None,
        command_ids: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> None:
        self.log_length += 1
        self.touched = True
        self.new_log.append(
            LogEntry(
                seq=self.log_length,
                at=rfc3339(now),
                step=step,
                phase=phase,
                status=status,
                message_id=message_id,
                message_type=message_type,
                command_ids=command_ids,
                reason=reason,
            )
        )

    def send(self, topic: str, envelope: Envelope) -> None:
        self.touched = True
        self.outgoing.append((topic, envelope))

    def route(self, key: str, *, step: str = "", phase: str = "") -> None:
        self.touched = True
        self.new_routes[key] = {"saga_id": self.id, "step": step, "phase": phase}

    def state(self, name: str) -> StepState:
        return self.steps[name]

    def in_status(self, *statuses: StepStatus) -> list[StepState]:
        return [s for s in self.steps.values() if s.status in statuses]
