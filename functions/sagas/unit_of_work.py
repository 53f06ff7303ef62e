"""Where sagas are stored: the saga document, its log entries and its routes.

All three are written in the transaction that consumes the message: the saga with its
optimistic version, each new log entry create-only (`<saga id>:<seq>`, so two writers can
never both append entry N), each route as a plain write. The commands the saga sends are
handed to the message processor as `dispatched()` and recorded in the same outbox.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from functions.sagas.domain import LogEntry, Saga, Sent, StepState
from functions.sagas.messages import SagaStatus, StepStatus
from shared.ports.documents import Document, DocumentTransaction
from shared.ports.envelope import Envelope
from shared.service.unit_of_work import AggregateRepository, UnitOfWork

COLLECTION = "sagas"
LOG_COLLECTION = "sagas_log"
ROUTES_COLLECTION = "sagas_routes"


@dataclass(frozen=True)
class SagaCollections:
    sagas: str = COLLECTION
    log: str = LOG_COLLECTION
    routes: str = ROUTES_COLLECTION


def log_entry_id(saga_id: str, seq: int) -> str:
    return f"{saga_id}:{seq:06d}"


def log_document(saga_id: str, entry: LogEntry) -> Document:
    return {
        "saga_id": saga_id,
        "seq": entry.seq,
        "at": entry.at,
        "step": entry.step,
        "phase": entry.phase,
        "status": entry.status.value,
        "message_id": entry.message_id,
        "message_type": entry.message_type,
        "command_ids": list(entry.command_ids),
        "reason": entry.reason,
    }


def _step_document(state: StepState) -> Document:
    return {**asdict(state), "status": state.status.value}


def _sent(stored: dict[str, Any] | None) -> Sent | None:
    return Sent(**stored) if stored else None


def _step(stored: dict[str, Any]) -> StepState:
    return StepState(
        **{
            **stored,
            "status": StepStatus(stored["status"]),
            "forward": _sent(stored.get("forward")),
            "compensation": _sent(stored.get("compensation")),
        }
    )


class SagaMapper:
    """The stored document doubles as the read model GET /sagas/{id} answers from."""

    def to_document(self, saga: Saga) -> Document:
        return {
            "saga_id": saga.id,
            "definition": saga.definition,
            "subscription_id": saga.subscription_id,
            "client_code": saga.client_code,
            "correlation_id": saga.correlation_id,
            "status": saga.status.value,
            "started_at": saga.started_at,
            "deadline_at": saga.deadline_at,
            "ended_at": saga.ended_at,
            "failed_step": saga.failed_step,
            "failure": saga.failure,
            "wake_at": saga.wake_at,
            "log_length": saga.log_length,
            "done_count": saga.done_count,
            "facts": dict(saga.facts),
            "steps": [_step_document(state) for state in saga.steps.values()],
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> Saga:
        return Saga(
            id=aggregate_id,
            version=version,
            definition=document["definition"],
            subscription_id=document["subscription_id"],
            client_code=document["client_code"],
            correlation_id=document["correlation_id"],
            status=SagaStatus(document["status"]),
            started_at=document["started_at"],
            deadline_at=document["deadline_at"],
            ended_at=document.get("ended_at"),
            failed_step=document.get("failed_step"),
            failure=document.get("failure"),
            wake_at=document.get("wake_at"),
            log_length=int(document.get("log_length", 0)),
            done_count=int(document.get("done_count", 0)),
            # A saga started before the client's code was among its facts has it beside
            # them: its data service commands name the client by that code.
            facts={"client_code": document["client_code"], **document.get("facts", {})},
            steps={s["name"]: _step(s) for s in document["steps"]},
        )


class SagasUnitOfWork(UnitOfWork):
    def __init__(self, tx: DocumentTransaction, collections: SagaCollections) -> None:
        super().__init__(tx)
        self.collections = collections
        self.sagas = AggregateRepository(tx, collections.sagas, SagaMapper())

    def route(self, key: str) -> Document | None:
        return self.tx.get(self.collections.routes, key)

    def stage_changes(self) -> list[Any]:
        for saga in self.sagas.seen.values():
            for entry in saga.new_log:
                self.tx.create(
                    self.collections.log,
                    log_entry_id(saga.id, entry.seq),
                    log_document(saga.id, entry),
                )
            for key, route in saga.new_routes.items():
                self.tx.put(self.collections.routes, key, route)
        return super().stage_changes()

    def dispatched(self) -> list[tuple[str, Envelope]]:
        return [sent for saga in self.sagas.seen.values() for sent in saga.outgoing]
