"""Seedwork for event-sourced aggregates: state is what its events say, nothing else.

A decision records an event; recording applies it at once, so the aggregate's state after a
decision is the state a later rehydration from the stream will rebuild. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from shared.domain.aggregate import Aggregate
from shared.domain.messages import Event


@dataclass(kw_only=True, eq=False)
class EventSourcedAggregate(Aggregate):
    """`version` is the version of the last stored event it has applied (0: a new stream)."""

    @classmethod
    def blank(cls, aggregate_id: str) -> Self:
        """The aggregate before its first event."""
        return cls(id=aggregate_id)

    def apply(self, event: Event) -> None:
        """Change state as `event` says; never decide anything here."""
        raise NotImplementedError

    def record(self, event: Event) -> None:
        self.apply(event)
        super().record(event)

    def to_snapshot(self) -> dict[str, Any]:
        """The state as a JSON-like dict; `from_snapshot` reads it back."""
        raise NotImplementedError

    @classmethod
    def from_snapshot(cls, aggregate_id: str, version: int, state: dict[str, Any]) -> Self:
        raise NotImplementedError
