"""Event sourcing on the EventStore port: rehydration, snapshots, upcasters, projections.

- `EventSourcedRepository` loads an aggregate from its latest snapshot and the events after
  it, and stages the new events of every aggregate it handed out with the version it was
  loaded at as the expected version: inside the caller's transaction, so the append commits
  with the inbox record of the message that caused it, or not at all.
- `Upcasters` turn a stored event of an old shape (v1) into the current one (v2) when it is
  read; stored events are never rewritten.
- A `Projection` folds events into read-model documents. `apply_to_views` runs it inside an
  append's transaction (the live read model); `ProjectionRunner` runs it over the global log,
  shard by shard, keeping its position per shard in the same transaction as the documents it
  writes, so it can stop anywhere, resume, and rebuild from zero to the same documents.

An event whose type no code knows (a newer producer, a removed type) is skipped with a log
line and counted, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from shared.domain.event_sourced import EventSourcedAggregate
from shared.domain.messages import Event, message_class
from shared.logging import get_logger
from shared.ports.documents import Document, DocumentStore, DocumentTransaction
from shared.ports.envelope import derived_id
from shared.ports.event_store import EventStore, EventStreams, NewEvent, RecordedEvent, Snapshot

log = get_logger(__name__)
A = TypeVar("A", bound=EventSourcedAggregate)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Steps from one stored type to the next version: {old type: (new type, function)}."""

    def __init__(self, steps: Mapping[str, tuple[str, Upcaster]] | None = None) -> None:
        self._steps = dict(steps or {})

    def upcast(self, type_name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seen = {type_name}
        while type_name in self._steps:
            type_name, step = self._steps[type_name]
            if type_name in seen:
                raise ValueError(f"upcasters loop at {type_name}")
            seen.add(type_name)
            data = step(dict(data))
        return type_name, data


def decode(recorded: RecordedEvent, upcasters: Upcasters) -> Event | None:
    """The typed event a stored one is, upcast to the current shape; None when unknown."""
    type_name, data = upcasters.upcast(recorded.type, recorded.data)
    model = message_class(type_name)
    if model is None or not issubclass(model, Event):
        log.warning("unknown_event_skipped", event_type=type_name[:120], stream=recorded.stream_id)
        return None
    # A tolerant reader, as for messages on the wire: fields it does not know are ignored.
    return model.model_validate({k: v for k, v in data.items() if k in model.model_fields})


def encode(event: Event, stream_id: str, version: int, metadata: dict[str, str]) -> NewEvent:
    return NewEvent(
        # Deterministic: the same decision, retried, is the same event.
        event_id=derived_id("stream-event", stream_id, str(version)),
        type=event.TYPE,
        data=event.model_dump(mode="json"),
        metadata=metadata,
    )


@dataclass(frozen=True)
class Staged:
    """An event staged by a repository, typed and as the store records it."""

    event: Event
    recorded: RecordedEvent


class EventSourcedRepository(Generic[A]):
    def __init__(
        self,
        streams: EventStreams,
        kind: type[A],
        *,
        upcasters: Upcasters | None = None,
        snapshot_every: int = 50,
    ) -> None:
        self._streams = streams
        self._kind = kind
        self._upcasters = upcasters or Upcasters()
        self._snapshot_every = snapshot_every
        self.seen: dict[str, A] = {}
        self.skipped = 0  # stored events of a type no code knows, left out of the state

    def get(self, aggregate_id: str, known: A | None = None) -> A | None:
        """The aggregate as its stream says now. `known`: the same aggregate as read
        before (outside this transaction, without changes of its own): its events are not
        read again, only those appended since (stored events never change), so it serves as
        a snapshot held in memory."""
        if aggregate_id in self.seen:
            return self.seen[aggregate_id]
        # The head first (an append reads it anyway, so it costs no more): a snapshot is
        # only saved when a stream reaches snapshot_every events, so a shorter stream (most
        # of them: a notification's has 2 to 5) has none, and reading it would be a read of
        # an absent document in every transaction, billed, and one the emulator serialises.
        version = self._streams.version(aggregate_id)
        if version == 0:
            return None
        if known is not None and known.id == aggregate_id and not known.has_changes:
            start: tuple[int, dict[str, Any]] | None = (known.version, known.to_snapshot())
        else:
            snapshot = (
                self._streams.snapshot(aggregate_id) if version >= self._snapshot_every else None
            )
            start = (snapshot.version, snapshot.state) if snapshot is not None else None
        if start is not None and start[0] <= version:
            aggregate = self._kind.from_snapshot(aggregate_id, start[0], start[1])
        else:
            aggregate = self._kind.blank(aggregate_id)
        events = self._streams.read(aggregate_id, after_version=aggregate.version)
        for recorded in events:
            event = decode(recorded, self._upcasters)
            if event is None:
                self.skipped += 1
            else:
                aggregate.apply(event)
            aggregate.version = recorded.version
        self.seen[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: A) -> None:
        self.seen[aggregate.id] = aggregate

    def stage_changes(self, metadata: Mapping[str, str] | None = None) -> list[Staged]:
        """Append every changed aggregate's new events at the version it was loaded at;
        `metadata` (correlation and causation ids) goes with each of them."""
        staged: list[Staged] = []
        for aggregate in self.seen.values():
            if not aggregate.has_changes:
                continue
            events = aggregate.pull_events()
            base = aggregate.version
            new = [
                encode(e, aggregate.id, base + i, dict(metadata or {}))
                for i, e in enumerate(events, start=1)
            ]
            recorded = self._streams.append(aggregate.id, new, expected_version=base)
            aggregate.version = base + len(events)
            if base // self._snapshot_every != aggregate.version // self._snapshot_every:
                self._streams.save_snapshot(
                    Snapshot(aggregate.id, aggregate.version, aggregate.to_snapshot())
                )
            staged.extend(Staged(e, r) for e, r in zip(events, recorded, strict=True))
        return staged


# -- projections ---------------------------------------------------------------------------
class Projection(Protocol):
    name: str
    collection: str

    def key(self, event: RecordedEvent) -> str | None:
        """The read-model document `event` changes; None for an event it does not know."""

    def fold(self, view: Document | None, event: RecordedEvent) -> Document:
        """The document after `event` (None: the document does not exist yet)."""


def apply_to_views(
    tx: DocumentTransaction,
    projection: Projection,
    events: Sequence[RecordedEvent],
    collection: str | None = None,
    absent: Collection[str] = (),
) -> int:
    """Fold `events` (in order) into the projection's documents inside `tx`; the number of
    events skipped as unknown. Each document is read once and written once; those of
    `absent` (the caller knows they do not exist yet: a new stream's) are not read."""
    target = collection or projection.collection
    views: dict[str, Document | None] = dict.fromkeys(absent)
    skipped = 0
    for event in events:
        doc_id = projection.key(event)
        if doc_id is None:
            skipped += 1
            log.warning(
                "unknown_event_skipped", projection=projection.name, event_type=event.type[:120]
            )
            continue
        if doc_id not in views:
            views[doc_id] = tx.get(target, doc_id)
        views[doc_id] = projection.fold(views[doc_id], event)
    for doc_id, view in views.items():
        if view is not None:
            tx.put(target, doc_id, view)
    return skipped


@dataclass(frozen=True)
class CatchUp:
    applied: int
    skipped: int
    positions: dict[int, int] = field(default_factory=dict)


@dataclass
class ProjectionRunner:
    """Runs a projection over the global log. Positions live in `positions_collection`, one
    document per (projection, shard), written with the documents they account for."""

    store: DocumentStore
    events: EventStore
    projection: Projection
    positions_collection: str
    collection: str | None = None  # where the documents go; the projection's by default
    batch: int = 200

    def _position_id(self, shard: int) -> str:
        return f"{self.projection.name}-{self.collection or self.projection.collection}-{shard:03d}"

    def position(self, shard: int) -> int:
        found = self.store.get(self.positions_collection, self._position_id(shard))
        return int(found["position"]) if found else 0

    def catch_up(self) -> CatchUp:
        applied = skipped = 0
        positions: dict[int, int] = {}
        for shard in range(self.events.shards):
            position = self.position(shard)
            while True:
                batch = self.events.read_shard(shard, position, self.batch)
                if not batch:
                    break
                outcome = self.store.run_in_transaction(
                    lambda tx, b=batch, p=position, s=shard: self._apply(tx, s, p, b)  # type: ignore[misc]
                )
                moved_to, batch_skipped = outcome
                if moved_to == batch[-1].position:
                    applied += len(batch) - batch_skipped
                    skipped += batch_skipped
                position = moved_to
            positions[shard] = position
        return CatchUp(applied, skipped, positions)

    def _apply(
        self, tx: DocumentTransaction, shard: int, expected: int, batch: list[RecordedEvent]
    ) -> tuple[int, int]:
        doc_id = self._position_id(shard)
        found = tx.get(self.positions_collection, doc_id)
        current = int(found["position"]) if found else 0
        if current != expected:
            return current, 0  # another runner moved this shard on: read again from there
        skipped = apply_to_views(tx, self.projection, batch, self.collection)
        last = batch[-1].position
        tx.put(self.positions_collection, doc_id, {"shard": shard, "position": last})
        return last, skipped

    def rebuild(self) -> CatchUp:
        """From zero: every position back to 0, then the whole log again. Documents are
        rebuilt by folding their events from the first one, so stale ones are replaced."""

        def reset(tx: DocumentTransaction) -> None:
            for shard in range(self.events.shards):
                tx.put(
                    self.positions_collection,
                    self._position_id(shard),
                    {"shard": shard, "position": 0},
                )

        self.store.run_in_transaction(reset)
        return self.catch_up()
