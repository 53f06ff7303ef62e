"""A repository of aggregates inside one transaction, with optimistic versions.

It remembers every aggregate it handed out or was given, so the unit of work can save the
changed ones and harvest their events when the handler is done.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from shared.domain.aggregate import Aggregate
from shared.ports.documents import VERSION_FIELD, Document, DocumentTransaction
from shared.ports.envelope import Envelope

A = TypeVar("A", bound=Aggregate)


class AggregateMapper(Protocol[A]):
    def to_document(self, aggregate: A) -> Document: ...

    def from_document(self, aggregate_id: str, document: Document, version: int) -> A: ...


class AggregateRepository(Generic[A]):
    def __init__(
        self, tx: DocumentTransaction, collection: str, mapper: AggregateMapper[A]
    ) -> None:
        self._tx = tx
        self._collection = collection
        self._mapper = mapper
        self.seen: dict[str, A] = {}

    def get(self, aggregate_id: str) -> A | None:
        if aggregate_id in self.seen:
            return self.seen[aggregate_id]
        document = self._tx.get(self._collection, aggregate_id)
        if document is None:
            return None
        version = int(document.pop(VERSION_FIELD, 0))
        aggregate = self._mapper.from_document(aggregate_id, document, version)
        self.seen[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: A) -> None:
        self.seen[aggregate.id] = aggregate

    def stage_changes(self) -> list[Any]:
        """Stage a write of every changed aggregate; return the events they recorded."""
        events: list[Any] = []
        for aggregate in self.seen.values():
            if not aggregate.has_changes:
                continue
            document = self._mapper.to_document(aggregate)
            if aggregate.version == 0:
                self._tx.create(self._collection, aggregate.id, document)
            else:
                self._tx.save(
                    self._collection, aggregate.id, document, expected_version=aggregate.version
                )
            events.extend(aggregate.pull_events())
        return events


class UnitOfWork:
    """The repositories of one context inside one transaction.

    A context subclasses it and declares its repositories as attributes; the message
    processor stages their changes and harvests their events after the handler returns.
    """

    # The message being processed, set by the message processor: what the handler records
    # was caused by it (its id names the cause).
    cause: Envelope | None = None

    def __init__(self, tx: DocumentTransaction) -> None:
        self.tx = tx

    def _repositories(self) -> list[AggregateRepository[Any]]:
        return [v for v in vars(self).values() if isinstance(v, AggregateRepository)]

    def stage_changes(self) -> list[Any]:
        """Stage every changed aggregate and return the events they recorded, in order."""
        return [event for repo in self._repositories() for event in repo.stage_changes()]

    def dispatched(self) -> list[tuple[str, Envelope]]:
        """Messages the handler addressed itself, topic and envelope (ids, correlation and
        causation chosen by it): a process manager's commands to other contexts. The
        processor records them in the same outbox as the events."""
        return []
