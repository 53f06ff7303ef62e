"""The EventStore contract, on the in-memory document store (`make unit`) and on the
Firestore emulator (@emulators): streams, optimistic appends, the sharded global log,
snapshots, upcasters, rehydration and projections."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from shared.adapters.document_event_store import DocumentEventStore, EventStoreCollections
from shared.domain.clock import utc_now
from shared.domain.errors import ConcurrencyConflict
from shared.ports.documents import Document, DocumentStore
from shared.ports.event_store import NewEvent, RecordedEvent, Snapshot, WrongExpectedVersion
from shared.service.event_sourcing import ProjectionRunner, Upcasters, apply_to_views


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulators)])
def documents(request: pytest.FixtureRequest) -> DocumentStore:
    if request.param == "memory":
        from shared.adapters.memory_store import InMemoryDocumentStore

        return InMemoryDocumentStore()
    stack = request.getfixturevalue("stack")
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    return FirestoreDocumentStore(firestore.Client(project=stack.project_id))


@pytest.fixture
def events(documents: DocumentStore) -> DocumentEventStore:
    name = f"contract_{uuid.uuid4().hex[:10]}"
    return DocumentEventStore(documents, EventStoreCollections.named(name), utc_now, shards=4)


def new(kind: str = "noted", **data: Any) -> NewEvent:
    return NewEvent(event_id=str(uuid.uuid4()), type=f"test.{kind}", data=data)


def append(
    store: DocumentEventStore, stream: str, batch: list[NewEvent], expected: int
) -> list[RecordedEvent]:
    return store.documents.run_in_transaction(
        lambda tx: store.streams(tx).append(stream, batch, expected_version=expected)
    )


def test_a_new_stream_is_empty_at_version_zero(events: DocumentEventStore) -> None:
    assert events.read_stream("nobody") == []
    assert events.documents.run_in_transaction(lambda tx: events.streams(tx).version("nobody")) == 0


def test_appends_are_read_back_in_order_with_versions(events: DocumentEventStore) -> None:
    append(events, "s-1", [new(n=1), new(n=2)], 0)
    append(events, "s-1", [new(n=3)], 2)
    stream = events.read_stream("s-1")
    assert [(e.version, e.data["n"]) for e in stream] == [(1, 1), (2, 2), (3, 3)]
    assert [e.version for e in events.read_stream("s-1", after_version=2)] == [3]
    assert len({e.shard for e in stream}) == 1  # a stream lives in one shard


def test_a_writer_at_the_wrong_version_is_refused_and_writes_nothing(
    events: DocumentEventStore,
) -> None:
    append(events, "s-1", [new(n=1)], 0)
    for stale in (0, 2):
        with pytest.raises(WrongExpectedVersion):
            append(events, "s-1", [new(n=9)], stale)
    assert [e.data["n"] for e in events.read_stream("s-1")] == [1]


def test_two_concurrent_writers_of_one_version_exactly_one_wins(
    events: DocumentEventStore,
) -> None:
    append(events, "s-1", [new(n=0)], 0)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def writer(name: str) -> None:
        attempts: list[int] = []

        def work(tx: Any) -> list[RecordedEvent]:
            streams = events.streams(tx)
            streams.version("s-1")
            attempts.append(1)
            if len(attempts) == 1:  # both read version 1 before either commits
                barrier.wait(timeout=30)
            return streams.append("s-1", [new(writer=name)], expected_version=1)

        try:
            events.documents.run_in_transaction(work)
            outcomes[name] = "won"
        except ConcurrencyConflict:
            outcomes[name] = "lost"

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["lost", "won"]
    stream = events.read_stream("s-1")
    winner = next(name for name, outcome in outcomes.items() if outcome == "won")
    assert [e.version for e in stream] == [1, 2]
    assert stream[1].data == {"writer": winner}


def test_an_append_commits_with_the_rest_of_its_transaction_or_not_at_all(
    events: DocumentEventStore,
) -> None:
    inbox = f"inbox_{uuid.uuid4().hex[:8]}"

    def work(tx: Any) -> None:
        events.streams(tx).append("s-1", [new(n=1)], expected_version=0)
        tx.create(inbox, "message-1", {"seen": True})
        raise RuntimeError("the handler failed after appending")

    with pytest.raises(RuntimeError):
        events.documents.run_in_transaction(work)
    assert events.read_stream("s-1") == []
    assert events.documents.get(inbox, "message-1") is None


def test_the_global_log_gives_each_shard_gap_free_positions_without_a_global_counter(
    events: DocumentEventStore,
) -> None:
    streams = [f"stream-{i}" for i in range(12)]
    for round_ in range(2):
        for stream in streams:
            append(events, stream, [new(n=round_)], round_)
    every: list[RecordedEvent] = []
    for shard in range(events.shards):
        log = events.read_shard(shard, 0, limit=1000)
        assert [e.position for e in log] == list(range(1, len(log) + 1))
        assert all(e.shard == shard for e in log)
        every += log
    assert len(every) == 24
    assert len({e.shard for e in every}) > 1  # spread over shards: no single hot document
    for stream in streams:  # each stream's events keep their order in its shard
        mine = [e for e in every if e.stream_id == stream]
        assert [e.version for e in sorted(mine, key=lambda e: e.position)] == [1, 2]
    first = events.read_shard(every[0].shard, 0, limit=1)
    rest = events.read_shard(every[0].shard, first[0].position, limit=1000)
    assert [e.position for e in rest] == list(range(2, len(rest) + 2))


def test_two_streams_of_one_shard_in_one_transaction_get_distinct_positions(
    events: DocumentEventStore,
) -> None:
    def work(tx: Any) -> None:
        streams = events.streams(tx)
        for i in range(8):  # 8 streams over 4 shards: some share one
            streams.append(f"t-{i}", [new(n=i)], expected_version=0)

    events.documents.run_in_transaction(work)
    for shard in range(events.shards):
        log = events.read_shard(shard, 0, limit=100)
        assert [e.position for e in log] == list(range(1, len(log) + 1))


def test_snapshots_are_kept_per_stream(events: DocumentEventStore) -> None:
    def save(tx: Any) -> None:
        events.streams(tx).save_snapshot(Snapshot("s-1", 7, {"count": 7}))

    events.documents.run_in_transaction(save)
    found = events.documents.run_in_transaction(lambda tx: events.streams(tx).snapshot("s-1"))
    assert found == Snapshot("s-1", 7, {"count": 7})
    assert (
        events.documents.run_in_transaction(lambda tx: events.streams(tx).snapshot("s-2")) is None
    )


def test_upcasters_chain_from_v1_to_the_current_shape() -> None:
    upcasters = Upcasters(
        {
            "test.renamed.v1": ("test.renamed.v2", lambda d: {"full_name": d["name"]}),
            "test.renamed.v2": ("test.renamed.v3", lambda d: {**d, "locale": "es-CL"}),
        }
    )
    assert upcasters.upcast("test.renamed.v1", {"name": "x"}) == (
        "test.renamed.v3",
        {"full_name": "x", "locale": "es-CL"},
    )
    assert upcasters.upcast("test.other.v1", {"a": 1}) == ("test.other.v1", {"a": 1})


class Counting:
    """A projection: how many events each stream has, and the last `n` seen."""

    name = "counting"
    collection = "unused"

    def key(self, event: RecordedEvent) -> str | None:
        return event.stream_id if event.type == "test.noted" else None

    def fold(self, view: Document | None, event: RecordedEvent) -> Document:
        count = (view or {}).get("count", 0) if event.version > 1 else 0
        return {"count": count + 1, "last": event.data.get("n")}


def test_a_projection_catches_up_resumes_and_rebuilds_to_the_same_documents(
    events: DocumentEventStore,
) -> None:
    documents = events.documents
    target = f"views_{uuid.uuid4().hex[:8]}"
    positions = f"positions_{uuid.uuid4().hex[:8]}"
    runner = ProjectionRunner(documents, events, Counting(), positions, collection=target, batch=3)
    for i in range(5):
        append(events, f"p-{i}", [new(n=1), new(n=2)], 0)
    append(events, "p-0", [new("unknown_type")], 2)
    first = runner.catch_up()
    assert (first.applied, first.skipped) == (10, 1)
    append(events, "p-1", [new(n=3)], 2)
    resumed = runner.catch_up()
    assert (resumed.applied, resumed.skipped) == (1, 0)  # only what was new
    views: Callable[[], dict[str, Any]] = lambda: {  # noqa: E731
        f"p-{i}": documents.get(target, f"p-{i}") for i in range(5)
    }
    before = views()
    assert before["p-1"] == {"count": 3, "last": 3}
    assert before["p-0"] == {"count": 2, "last": 2}
    rebuilt = runner.rebuild()
    assert (rebuilt.applied, rebuilt.skipped) == (11, 1)
    assert views() == before


def test_inline_views_equal_what_the_runner_builds_from_the_log(
    events: DocumentEventStore,
) -> None:
    documents = events.documents
    inline, replayed = f"inline_{uuid.uuid4().hex[:8]}", f"replayed_{uuid.uuid4().hex[:8]}"
    for i in range(3):
        for version in range(3):
            documents.run_in_transaction(
                lambda tx, i=i, v=version: apply_to_views(  # type: ignore[misc]
                    tx,
                    Counting(),
                    events.streams(tx).append(f"q-{i}", [new(n=v)], expected_version=v),
                    inline,
                )
            )
    ProjectionRunner(
        documents, events, Counting(), f"pos_{uuid.uuid4().hex[:8]}", replayed
    ).catch_up()
    for i in range(3):
        assert documents.get(inline, f"q-{i}") == documents.get(replayed, f"q-{i}")
        assert documents.get(inline, f"q-{i}") == {"count": 3, "last": 2}
