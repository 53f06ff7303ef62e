"""The counting adapters behave as what they wrap (the ports' contract suites run through
them here), and count what the Google adapters would be billed for."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest

from functions.subscriptions.messages import ChangePlan
from shared.adapters.counting import (
    Counters,
    CountingBlobStore,
    CountingDocumentStore,
    CountingPublisher,
)
from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.adapters.memory_publisher import InMemoryPublisher
from shared.adapters.memory_store import InMemoryDocumentStore
from shared.ports.blobs import BlobStore
from shared.ports.documents import DocumentStore, DocumentTransaction, Filter, StaleVersion
from shared.ports.envelope import Envelope
from tests.contract.conftest import PublishedReader

# The contract suites, collected again here with the fixtures below: through the counters.
from tests.contract.test_blob_store import (  # noqa: F401
    test_copy_and_list,
    test_create_only_write_refuses_a_second_write,
    test_delete_only_the_given_generation,
    test_missing_object,
    test_stream_is_seekable_and_pinned_to_a_generation,
)
from tests.contract.test_document_store import (  # noqa: F401
    test_a_failing_transaction_writes_nothing,
    test_concurrent_read_modify_writes_lose_no_update,
    test_count_counts_what_matches_up_to_a_limit,
    test_create_stores_version_one_and_refuses_a_second_create,
    test_missing_document_is_none,
    test_query_filters_orders_and_pages,
    test_query_on_nested_field,
    test_reads_may_follow_writes_inside_a_transaction,
    test_versioned_save_and_a_stale_writer_loses,
)
from tests.contract.test_publisher import (  # noqa: F401
    test_published_envelopes_arrive_whole,
    test_raw_messages_are_kept_as_they_are,
)


@pytest.fixture
def counters() -> Counters:
    return Counters()


@pytest.fixture
def store(counters: Counters) -> DocumentStore:
    return CountingDocumentStore(InMemoryDocumentStore(), counters)


@pytest.fixture
def collection() -> str:
    return f"contract_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def published(counters: Counters) -> PublishedReader:
    memory = InMemoryPublisher()

    def read(topic: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
        return list(memory.raw[topic]) + [e.to_pubsub() for e in memory.messages(topic)]

    return PublishedReader(CountingPublisher(memory, counters), read, lambda topic: None)


@pytest.fixture
def blobs(counters: Counters) -> Iterator[tuple[BlobStore, str]]:
    yield CountingBlobStore(InMemoryBlobStore(), counters), "bucket"


# -- Firestore ----------------------------------------------------------------------------


def test_a_transaction_is_billed_its_reads_and_its_writes(counters: Counters) -> None:
    store = CountingDocumentStore(InMemoryDocumentStore(), counters)
    store.run_in_transaction(lambda tx: tx.create("c", "a", {"n": 1}))

    def work(tx: DocumentTransaction) -> None:
        found = tx.get_many([("c", "a"), ("c", "missing"), ("c", "a")])
        assert found[0] is not None
        tx.get("c", "a")  # read already: the adapter answers from what it read
        tx.save("c", "a", {"n": 2}, expected_version=1)
        tx.put("c", "b", {"n": 1})

    store.run_in_transaction(work)
    assert (counters["firestore.reads"], counters["firestore.writes"]) == (2, 3)
    assert (counters["firestore.reads:c"], counters["firestore.writes:c"]) == (2, 3)
    assert counters["firestore.transactions"] == 2
    assert counters["firestore.transaction_retries"] == 0
    # Begin and commit each; one batched read (a repeated key is not fetched again).
    assert counters["firestore.requests"] == 2 + 3


def test_a_save_without_a_read_pays_the_version_read(counters: Counters) -> None:
    store = CountingDocumentStore(InMemoryDocumentStore(), counters)
    store.run_in_transaction(lambda tx: tx.create("c", "a", {"n": 1}))
    store.run_in_transaction(lambda tx: tx.save("c", "a", {"n": 2}, expected_version=1))
    assert (counters["firestore.reads"], counters["firestore.version_reads"]) == (1, 1)


def test_every_attempt_pays_its_reads_and_only_the_commit_writes(counters: Counters) -> None:
    inner = InMemoryDocumentStore()
    store = CountingDocumentStore(inner, counters)
    inner.run_in_transaction(lambda tx: tx.put("c", "a", {"n": 0}))
    attempts: list[int] = []

    def work(tx: DocumentTransaction) -> None:
        seen = tx.get("c", "a")
        assert seen is not None
        attempts.append(1)
        if len(attempts) == 1:  # another writer commits between this read and the commit
            inner.run_in_transaction(lambda other: other.put("c", "a", {"n": 10}))
        tx.put("c", "a", {"n": seen["n"] + 1})

    store.run_in_transaction(work)
    assert inner.get("c", "a") == {"n": 11}
    assert counters["firestore.transaction_retries"] == 1
    assert (counters["firestore.reads"], counters["firestore.writes"]) == (2, 1)


def test_a_transaction_that_fails_writes_nothing_billed(counters: Counters) -> None:
    store = CountingDocumentStore(InMemoryDocumentStore(), counters)
    store.run_in_transaction(lambda tx: tx.create("c", "a", {"n": 1}))
    with pytest.raises(StaleVersion):
        store.run_in_transaction(lambda tx: tx.save("c", "a", {"n": 2}, expected_version=7))
    assert counters["firestore.writes"] == 1


def test_a_query_pays_the_documents_fetched_and_one_at_least(counters: Counters) -> None:
    store = CountingDocumentStore(InMemoryDocumentStore(), counters)

    def five(tx: DocumentTransaction) -> None:
        for n in range(5):
            tx.put("c", f"d{n}", {"n": n})

    store.run_in_transaction(five)
    page = store.query("c", order_by="n", limit=2)
    assert [doc_id for doc_id, _ in page.items] == ["d0", "d1"]
    assert (counters["firestore.reads"], counters["firestore.query_documents"]) == (3, 3)
    store.query("c", [Filter("n", ">", 99)])
    assert (counters["firestore.reads"], counters["firestore.queries"]) == (4, 2)
    store.get("c", "nope")
    assert counters["firestore.reads"] == 5


def test_a_count_pays_one_read_per_thousand_entries_and_one_at_least(
    counters: Counters,
) -> None:
    store = CountingDocumentStore(InMemoryDocumentStore(), counters)

    def many(tx: DocumentTransaction) -> None:
        for n in range(1500):
            tx.put("c", f"d{n}", {"n": n})

    store.run_in_transaction(many)
    assert store.count("c", [Filter("n", ">", 99_999)], up_to=10) == 0
    assert counters["firestore.reads"] == 1
    assert store.count("c", up_to=5000) == 1500
    assert counters["firestore.reads"] == 3
    assert counters["firestore.aggregations"] == 2


# -- Pub/Sub -------------------------------------------------------------------------------


def test_messages_and_bytes_by_topic_with_the_billed_minimum(counters: Counters) -> None:
    memory = InMemoryPublisher()
    publisher = CountingPublisher(memory, counters)
    envelope = Envelope(payload=ChangePlan(subscription_id="s1", plan="PRO"), source="/t")
    publisher.publish("commands", [envelope, envelope])
    publisher.publish_raw("dead", b"x" * 3000, {"k": "v"})
    data, attributes = envelope.to_pubsub()
    size = len(data) + sum(len(k) + len(v) for k, v in attributes.items()) + 20 + 16
    assert counters["pubsub.messages:commands"] == 2
    assert counters["pubsub.bytes:commands"] == 2 * size
    assert counters["pubsub.bytes:dead"] == 3000 + 2 + 20 + 16
    assert counters["pubsub.messages"] == 3
    # One request per call: the 1,000-byte minimum is a request's.
    assert counters["pubsub.billed_bytes"] == max(1000, 2 * size) + 3038
    assert counters["pubsub.requests"] == 2
    assert len(memory.messages("commands")) == 2


# -- Cloud Storage -------------------------------------------------------------------------


def test_class_a_and_class_b_as_the_gcs_adapter_sends_them(counters: Counters) -> None:
    blobs = CountingBlobStore(InMemoryBlobStore(), counters)
    small = blobs.write("b", "one", b"x" * 100)
    assert counters["gcs.class_a"] == 1  # one multipart upload
    blobs.write("b", "two", io.BytesIO(b"y" * 100))
    assert counters["gcs.class_a"] == 2  # a small seekable stream: one request too
    blobs.read_bytes("b", "one")
    blobs.open_read("b", "one", size=small.size)
    assert counters["gcs.class_b"] == 2
    blobs.open_read("b", "one")  # the size unknown: its metadata, then a range
    blobs.stat("b", "one")
    assert counters["gcs.class_b"] == 5
    blobs.copy("b", "one", "b", "three")
    assert blobs.list_names("b") == ["one", "three", "two"]
    assert counters["gcs.class_a"] == 4
    assert blobs.delete("b", "three")
    assert (counters["gcs.class_a"], counters["gcs.class_b"], counters["gcs.deletes"]) == (4, 5, 1)
    assert counters["gcs.requests"] == 10
    assert counters["gcs.bytes_written"] == 200


def test_since_gives_what_happened_between_two_points(counters: Counters) -> None:
    counters.add("a", 2)
    before = counters.snapshot()
    counters.add("a")
    counters.add("b", 4)
    assert counters.since(before) == {"a": 1, "b": 4}
