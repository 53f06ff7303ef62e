"""The event store on the DocumentStore port: Firestore in the cloud and on the emulator, the
in-memory store in unit tests; one implementation, so both pass one contract by construction
of the layout and tests/contract/test_event_store.py proves it on each.

Layout (collection names get the context's prefix):
- `<name>_streams/{stream_id}`: the head of a stream: version, shard. Read in the append
  transaction, so two writers of one version conflict on it and the loser, run again, finds
  the stream moved on (WrongExpectedVersion).
- `<name>_stream_events/{stream_id}:{version:010d}`: one document per event, created only if
  absent: even a writer that skipped the head check cannot overwrite version N.
- `<name>_log_shards/{shard:03d}`: the last position of one shard of the global log. A stream
  always lands in the same shard (a hash of its id), so appends to different shards share no
  document; the emmett-style single global counter would serialise every append of the
  system on one document (about one sustained write per second on Firestore).
- `<name>_snapshots/{stream_id}`: the latest snapshot of a stream.

Event documents carry their shard and position, so a shard of the global log is a query
(shard ==, position >, ordered by position; a composite index in infra/topology.yaml), and so
is a stream read outside a transaction (stream_id ==, ordered by version; another index).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.clock import Clock, rfc3339
from shared.ports.documents import Document, DocumentStore, DocumentTransaction, Filter
from shared.ports.event_store import (
    NewEvent,
    RecordedEvent,
    Snapshot,
    WrongExpectedVersion,
)

MAX_STREAM_ID = 150  # event ids append ":" and 10 digits; every store takes 200 characters


@dataclass(frozen=True)
class EventStoreCollections:
    streams: str
    events: str
    shards: str
    snapshots: str

    @classmethod
    def named(cls, name: str) -> EventStoreCollections:
        return cls(
            streams=f"{name}_streams",
            events=f"{name}_stream_events",
            shards=f"{name}_log_shards",
            snapshots=f"{name}_snapshots",
        )


def shard_of(stream_id: str, shards: int) -> int:
    digest = hashlib.blake2b(stream_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def event_doc_id(stream_id: str, version: int) -> str:
    return f"{stream_id}:{version:010d}"


def _recorded(document: Document) -> RecordedEvent:
    return RecordedEvent(
        stream_id=document["stream_id"],
        version=int(document["version"]),
        event_id=document["event_id"],
        type=document["type"],
        data=dict(document["data"]),
        metadata=dict(document.get("metadata") or {}),
        recorded_at=document["recorded_at"],
        shard=int(document["shard"]),
        position=int(document["position"]),
    )


class DocumentEventStore:
    """An EventStore in the collections of `collections`, on any DocumentStore."""

    def __init__(
        self,
        store: DocumentStore,
        collections: EventStoreCollections,
        clock: Clock,
        shards: int = 16,
    ) -> None:
        if not 1 <= shards <= 999:
            raise ValueError("between 1 and 999 shards")
        self._store = store
        self.collections = collections
        self._clock = clock
        # Never lowered once streams exist: a stream keeps the shard stored in its head, but
        # readers of the log only look at shards below this number.
        self._shards = shards

    @property
    def shards(self) -> int:
        return self._shards

    @property
    def documents(self) -> DocumentStore:
        """The document store the streams live in (transactions that append go through it)."""
        return self._store

    def streams(self, tx: DocumentTransaction) -> DocumentEventStreams:
        return DocumentEventStreams(tx, self.collections, self._clock, self._shards)

    def first_reads(self, stream_id: str) -> list[tuple[str, str]]:
        """The documents every load of a stream in a transaction reads first, its head and
        its first event: for a message processor's prefetch (one round trip with the inbox
        record instead of two more)."""
        return [
            (self.collections.streams, stream_id),
            (self.collections.events, event_doc_id(stream_id, 1)),
        ]

    def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        # A query, not a transaction: a reader takes no lock, so it never slows a writer of
        # the stream down (on Firestore a transaction's reads lock the documents).
        events: list[RecordedEvent] = []
        after: tuple[Any, str] | None = None
        while True:
            page = self._store.query(
                self.collections.events,
                [Filter("stream_id", "==", stream_id), Filter("version", ">", after_version)],
                order_by="version",
                limit=500,
                after=after,
            )
            events += [_recorded(document) for _, document in page.items]
            if page.next_cursor is None:
                return events
            after = page.next_cursor

    def read_shard(self, shard: int, after_position: int, limit: int) -> list[RecordedEvent]:
        page = self._store.query(
            self.collections.events,
            [Filter("shard", "==", shard), Filter("position", ">", after_position)],
            order_by="position",
            limit=limit,
        )
        return [_recorded(document) for _, document in page.items]


class DocumentEventStreams:
    """The streams inside one transaction. It remembers what it staged, so two appends in
    one transaction (two streams of one shard, or one stream twice) get distinct places."""

    def __init__(
        self,
        tx: DocumentTransaction,
        collections: EventStoreCollections,
        clock: Clock,
        shards: int,
    ) -> None:
        self._tx = tx
        self._c = collections
        self._clock = clock
        self._shards = shards
        self._heads: dict[str, Document | None] = {}
        self._positions: dict[int, int] = {}

    def _head(self, stream_id: str) -> Document | None:
        if stream_id not in self._heads:
            self._heads[stream_id] = self._tx.get(self._c.streams, stream_id)
        return self._heads[stream_id]

    def version(self, stream_id: str) -> int:
        head = self._head(stream_id)
        return int(head["version"]) if head else 0

    def read(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        version = self.version(stream_id)
        if version <= after_version:
            return []
        keys = [
            (self._c.events, event_doc_id(stream_id, v))
            for v in range(after_version + 1, version + 1)
        ]
        documents = self._tx.get_many(keys)
        missing = [key[1] for key, document in zip(keys, documents, strict=True) if not document]
        if missing:
            raise RuntimeError(f"stream {stream_id} lacks {len(missing)} events below its head")
        return [_recorded(document) for document in documents if document]

    def append(
        self, stream_id: str, events: Sequence[NewEvent], *, expected_version: int
    ) -> list[RecordedEvent]:
        if not 0 < len(stream_id) <= MAX_STREAM_ID or "/" in stream_id:
            raise ValueError("a stream id is 1 to 150 characters without '/'")
        current = self.version(stream_id)
        if current != expected_version:
            raise WrongExpectedVersion(f"stream is at version {current}, not {expected_version}")
        if not events:
            return []
        head = self._head(stream_id)
        shard = int(head["shard"]) if head else shard_of(stream_id, self._shards)
        position = self._position(shard)
        now = rfc3339(self._clock())
        recorded = []
        for offset, event in enumerate(events, start=1):
            stored = RecordedEvent(
                stream_id=stream_id,
                version=expected_version + offset,
                event_id=event.event_id,
                type=event.type,
                data=dict(event.data),
                metadata=dict(event.metadata),
                recorded_at=now,
                shard=shard,
                position=position + offset,
            )
            self._tx.create(
                self._c.events, event_doc_id(stream_id, stored.version), _document(stored)
            )
            recorded.append(stored)
        last = recorded[-1]
        new_head = {
            "stream_id": stream_id,
            "version": last.version,
            "shard": shard,
            "updated_at": now,
        }
        if head is None:
            self._tx.create(self._c.streams, stream_id, new_head)
        else:
            self._tx.put(self._c.streams, stream_id, new_head)
        self._heads[stream_id] = new_head
        self._positions[shard] = last.position
        self._tx.put(self._c.shards, f"{shard:03d}", {"shard": shard, "position": last.position})
        return recorded

    def _position(self, shard: int) -> int:
        if shard not in self._positions:
            counter = self._tx.get(self._c.shards, f"{shard:03d}")
            self._positions[shard] = int(counter["position"]) if counter else 0
        return self._positions[shard]

    def snapshot(self, stream_id: str) -> Snapshot | None:
        document = self._tx.get(self._c.snapshots, stream_id)
        if document is None:
            return None
        return Snapshot(stream_id, int(document["version"]), dict(document["state"]))

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._tx.put(
            self._c.snapshots,
            snapshot.stream_id,
            {"stream_id": snapshot.stream_id, "version": snapshot.version, "state": snapshot.state},
        )


def _document(event: RecordedEvent) -> Document:
    return {
        "stream_id": event.stream_id,
        "version": event.version,
        "event_id": event.event_id,
        "type": event.type,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at,
        "shard": event.shard,
        "position": event.position,
    }
