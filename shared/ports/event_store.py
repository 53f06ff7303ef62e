"""The event store port: streams of events with optimistic versions, and a sharded global log.

A stream (one aggregate) is a gap-free sequence of events, versions 1, 2, 3...; appending
names the version the writer based its decision on, so of two writers of version N exactly
one wins (WrongExpectedVersion for the other). Every event also gets a place in the global
log: a shard, chosen by the stream, and a position inside that shard, assigned in the append
transaction, so a projection that reads a shard in position order never skips an event that
commits later. There is no single counter every append bumps: appends to streams of
different shards never touch the same document.

`streams(tx)` works inside a DocumentTransaction, so an append commits atomically with
whatever else that transaction writes (the inbox record of the message that caused it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.errors import ConcurrencyConflict
from shared.ports.documents import DocumentTransaction


class WrongExpectedVersion(ConcurrencyConflict):
    """The stream is not at the version the writer based its decision on."""


@dataclass(frozen=True)
class NewEvent:
    event_id: str  # unique; deterministic where a retry must produce the same event
    type: str  # a versioned type name, e.g. co.saludtech.notifications.notification.sent.v1
    data: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)  # correlation and causation ids


@dataclass(frozen=True)
class RecordedEvent:
    stream_id: str
    version: int
    event_id: str
    type: str
    data: dict[str, Any]
    metadata: dict[str, str]
    recorded_at: str
    shard: int
    position: int  # 1, 2, 3... inside its shard, in commit order


@dataclass(frozen=True)
class Snapshot:
    """The state of an aggregate after `version`: rehydration starts there."""

    stream_id: str
    version: int
    state: dict[str, Any]


class EventStreams(Protocol):
    """The streams as one transaction sees them; appends are staged in that transaction."""

    def version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it does not exist."""

    def read(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]: ...

    def append(
        self, stream_id: str, events: Sequence[NewEvent], *, expected_version: int
    ) -> list[RecordedEvent]:
        """Stage `events` as versions expected_version + 1...; WrongExpectedVersion at once
        when the stream is elsewhere, or a ConcurrencyConflict at commit when another
        writer got there first."""

    def snapshot(self, stream_id: str) -> Snapshot | None: ...

    def save_snapshot(self, snapshot: Snapshot) -> None: ...


class EventStore(Protocol):
    @property
    def shards(self) -> int:
        """How many shards the global log has; shard numbers are 0 .. shards - 1."""

    def streams(self, tx: DocumentTransaction) -> EventStreams: ...

    def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """A stream as committed, outside any caller's transaction."""

    def read_shard(self, shard: int, after_position: int, limit: int) -> list[RecordedEvent]:
        """Up to `limit` events of one shard after `after_position`, in position order."""
