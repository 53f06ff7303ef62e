"""Counting adapters: wrappers over a DocumentStore, a Publisher and a BlobStore that count
the operations the cloud bills (and the requests the Google adapters would send, for
latency), and otherwise behave exactly as what they wrap.

They count what the Google adapters would send, not what the wrapped adapter does, so that
a run on the in-memory platform (benchmarks/costs.py) measures a cloud bill:

- Firestore bills one read per document fetched (a missing one included), one per document a
  query returns (at least one per query), one write per document written. Our Firestore
  adapter fetches `limit + 1` documents to know whether there is a next page, reads a
  document a transaction `save`s without having read it (its version check), and fetches a
  document once per transaction attempt; every attempt's reads are billed, only the
  committed attempt's writes. A count() aggregation bills one read per 1,000 index
  entries counted, at least one. The port has no delete.
- Pub/Sub bills each published message at its data + attributes + 20 bytes of publish
  time + its id, and at least 1,000 bytes a request (we publish and push one message a
  request); each delivery to a subscription again, filtered out or not.
- Cloud Storage bills writes, copies (rewrites) and lists as class A, reads and metadata
  reads as class B; deletes are free. The GCS adapter reads an object of up to 8 MiB whose
  size is known in one request, a larger one with a metadata request then one request per
  8 MiB range; it uploads up to 8 MiB (bytes, or a seekable stream) in one request, more in
  resumable 8 MiB chunks (one request to start, one per chunk).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from shared.adapters.gcs_blob_store import READ_CHUNK, WHOLE_READ_LIMIT, WRITE_CHUNK
from shared.ports.blobs import BlobInfo, BlobStore
from shared.ports.documents import Document, DocumentStore, DocumentTransaction, Filter, Page, T
from shared.ports.envelope import Envelope
from shared.ports.publishing import Publisher

PUBSUB_MINIMUM_BYTES = 1000
PUBSUB_TIMESTAMP_BYTES = 20
COUNT_ENTRIES_PER_READ = 1000  # Firestore bills a count() one read per 1,000 entries
PUBSUB_MESSAGE_ID_BYTES = 16  # the id Pub/Sub assigns, a string of 16 or so digits


class Counters:
    """Named counts ("firestore.reads", "firestore.reads:<collection>",
    "pubsub.messages:<topic>", "gcs.class_a", ...);
    `snapshot()` and `since()` give what happened between two points."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)

    def since(self, before: Counter[str]) -> Counter[str]:
        after = Counter(self.counts)
        after.subtract(before)
        return +after


def pubsub_size(data: bytes, attributes: dict[str, str]) -> int:
    """The bytes Pub/Sub counts for one message (before its 1,000-byte minimum)."""
    attribute_bytes = sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())
    return len(data) + attribute_bytes + PUBSUB_TIMESTAMP_BYTES + PUBSUB_MESSAGE_ID_BYTES


class CountingDocumentStore:
    def __init__(self, inner: DocumentStore, counters: Counters) -> None:
        self.inner = inner
        self.counters = counters

    def run_in_transaction(self, work: Callable[[DocumentTransaction], T]) -> T:
        attempts: list[_CountingTransaction] = []

        def counted(tx: DocumentTransaction) -> T:
            attempt = _CountingTransaction(tx, self.counters)
            attempts.append(attempt)
            self.counters.add("firestore.requests", 2)  # BeginTransaction, Commit
            return work(attempt)

        self.counters.add("firestore.transactions")
        try:
            result = self.inner.run_in_transaction(counted)
        finally:
            self.counters.add("firestore.transaction_retries", max(0, len(attempts) - 1))
        # It returned: the last attempt is the one that committed.
        for collection, _ in attempts[-1].written:
            self.counters.add("firestore.writes")
            self.counters.add(f"firestore.writes:{collection}")
        return result

    def get(self, collection: str, doc_id: str) -> Document | None:
        _read(self.counters, collection)
        self.counters.add("firestore.requests")
        return self.inner.get(collection, doc_id)

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: tuple[Any, str] | None = None,
    ) -> Page:
        page = self.inner.query(
            collection, where, order_by=order_by, descending=descending, limit=limit, after=after
        )
        # What the Firestore adapter fetches: one more than the page when there is more.
        fetched = len(page.items) + (1 if page.next_cursor is not None else 0)
        self.counters.add("firestore.queries")
        self.counters.add("firestore.requests")
        self.counters.add("firestore.query_documents", fetched)
        _read(self.counters, collection, max(1, fetched))
        return page

    def count(self, collection: str, where: Sequence[Filter] = (), *, up_to: int) -> int:
        found = self.inner.count(collection, where, up_to=up_to)
        # An aggregation bills one read per 1,000 index entries it counts, at least one.
        self.counters.add("firestore.aggregations")
        self.counters.add("firestore.requests")
        _read(self.counters, collection, _requests(found, COUNT_ENTRIES_PER_READ))
        return found


def _read(counters: Counters, collection: str, amount: int = 1) -> None:
    counters.add("firestore.reads", amount)
    counters.add(f"firestore.reads:{collection}", amount)


class _CountingTransaction:
    """One attempt of a transaction: its reads are billed now, its writes if it commits."""

    def __init__(self, inner: DocumentTransaction, counters: Counters) -> None:
        self.inner = inner
        self.counters = counters
        self.read: set[tuple[str, str]] = set()
        self.written: set[tuple[str, str]] = set()

    def _fetch(self, keys: Sequence[tuple[str, str]]) -> None:
        fresh = [key for key in dict.fromkeys(keys) if key not in self.read]
        self.read.update(fresh)
        if fresh:  # one BatchGetDocuments
            self.counters.add("firestore.requests")
        for collection, _ in fresh:
            _read(self.counters, collection)

    def get(self, collection: str, doc_id: str) -> Document | None:
        self._fetch([(collection, doc_id)])
        return self.inner.get(collection, doc_id)

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        self._fetch(keys)
        return self.inner.get_many(keys)

    def create(self, collection: str, doc_id: str, data: Document) -> None:
        self.written.add((collection, doc_id))
        self.inner.create(collection, doc_id, data)

    def save(self, collection: str, doc_id: str, data: Document, *, expected_version: int) -> None:
        if (collection, doc_id) not in self.read:
            self.counters.add("firestore.version_reads")
            self._fetch([(collection, doc_id)])
        self.written.add((collection, doc_id))
        self.inner.save(collection, doc_id, data, expected_version=expected_version)

    def put(self, collection: str, doc_id: str, data: Document) -> None:
        self.written.add((collection, doc_id))
        self.inner.put(collection, doc_id, data)


Encode = Callable[[Envelope], tuple[bytes, dict[str, str]]]


class CountingPublisher:
    """`encode` puts an envelope on the wire as the wrapped publisher does (with its sealer,
    when messages carry personal fields), so that the bytes counted are the bytes sent."""

    def __init__(self, inner: Publisher, counters: Counters, encode: Encode | None = None) -> None:
        self.inner = inner
        self.counters = counters
        self.encode: Encode = encode or (lambda envelope: envelope.to_pubsub())

    def _count(self, topic: str, messages: Sequence[tuple[bytes, dict[str, str]]]) -> None:
        """One publish request: the messages of one call go out in one batch."""
        sizes = [pubsub_size(data, attributes) for data, attributes in messages]
        self.counters.add("pubsub.requests")
        for key in ("pubsub.messages", f"pubsub.messages:{topic}"):
            self.counters.add(key, len(sizes))
        for key in ("pubsub.bytes", f"pubsub.bytes:{topic}"):
            self.counters.add(key, sum(sizes))
        self.counters.add("pubsub.billed_bytes", max(PUBSUB_MINIMUM_BYTES, sum(sizes)))

    def publish(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        self.inner.publish(topic, envelopes)
        if envelopes:
            self._count(topic, [self.encode(envelope) for envelope in envelopes])

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        self.inner.publish_raw(topic, data, attributes)
        self._count(topic, [(data, attributes)])


def _requests(size: int, chunk: int) -> int:
    return max(1, math.ceil(size / chunk))


class CountingBlobStore:
    def __init__(self, inner: BlobStore, counters: Counters) -> None:
        self.inner = inner
        self.counters = counters

    def _a(self, operation: str, amount: int = 1) -> None:
        self.counters.add("gcs.class_a", amount)
        self.counters.add("gcs.requests", amount)
        self.counters.add(f"gcs.{operation}")

    def _b(self, operation: str, amount: int = 1) -> None:
        self.counters.add("gcs.class_b", amount)
        self.counters.add("gcs.requests", amount)
        self.counters.add(f"gcs.{operation}")

    def stat(self, bucket: str, name: str) -> BlobInfo | None:
        self._b("stat")
        return self.inner.stat(bucket, name)

    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None, size: int | None = None
    ) -> BinaryIO:
        stream = self.inner.open_read(bucket, name, generation=generation, size=size)
        if size is not None and size <= WHOLE_READ_LIMIT:
            self._b("read")
            self.counters.add("gcs.bytes_read", size)
        else:  # a metadata request, then the ranges (counted as if the whole is read)
            whole = stream.seek(0, 2)
            stream.seek(0)
            self._b("read", 1 + _requests(whole, READ_CHUNK))
            self.counters.add("gcs.bytes_read", whole)
        return stream

    def read_bytes(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        data = self.inner.read_bytes(bucket, name, generation=generation)
        self._b("read")
        self.counters.add("gcs.bytes_read", len(data))
        return data

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes | BinaryIO,
        *,
        create_only: bool = True,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> BlobInfo:
        info = self.inner.write(
            bucket, name, data, create_only=create_only, content_type=content_type,
            metadata=metadata,
        )  # fmt: skip
        # Up to 8 MiB (bytes, or what is left of a seekable stream) go in one multipart
        # request; more, or an unseekable stream, in a resumable upload: one request to
        # start it, one per chunk.
        whole = (isinstance(data, bytes) or data.seekable()) and info.size <= WRITE_CHUNK
        self._a("write", 1 if whole else 1 + _requests(info.size, WRITE_CHUNK))
        self.counters.add("gcs.bytes_written", info.size)
        return info

    def copy(
        self,
        src_bucket: str,
        src_name: str,
        dst_bucket: str,
        dst_name: str,
        *,
        src_generation: int | None = None,
    ) -> BlobInfo:
        info = self.inner.copy(
            src_bucket, src_name, dst_bucket, dst_name, src_generation=src_generation
        )
        self._a("copy")
        return info

    def delete(self, bucket: str, name: str, *, generation: int | None = None) -> bool:
        self.counters.add("gcs.deletes")  # free in Cloud Storage's price list
        self.counters.add("gcs.requests")
        return self.inner.delete(bucket, name, generation=generation)

    def list_names(self, bucket: str, prefix: str = "") -> list[str]:
        names = self.inner.list_names(bucket, prefix)
        self._a("list", _requests(len(names), 1000))  # pages of 1,000
        return names
