"""What one image costs the ingestion functions in billed operations, pinned: Firestore
reads and writes, Pub/Sub publishes and GCS requests, counted by the counting adapters as
the Google adapters would send them (docs/capacity.md). A change that adds a read to every
image fails here; if it is needed, change the figure here and in docs/capacity.md."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from types import SimpleNamespace
from typing import BinaryIO

import pytest
from cloudevents.http import CloudEvent

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion.messages import NAMES, ImageAnonymized
from shared.adapters.counting import (
    Counters,
    CountingBlobStore,
    CountingDocumentStore,
    CountingPublisher,
)
from shared.adapters.gcs_blob_store import WRITE_CHUNK, GcsBlobStore
from shared.platform import Platform
from tests.unit.ingestion.conftest import deliver_entries
from tests.unit.ingestion.helpers import deliver_upload, study, upload, zipped

# A study larger than any page the pipeline ever read (its study check read 21 records).
SLICES = 30
SHOWN = (
    "firestore.reads", "firestore.writes", "pubsub.messages", "gcs.class_a", "gcs.class_b",
)  # fmt: skip


def install(platform: InMemoryPlatform, counters: Counters) -> None:
    """The platform behind the counting adapters, installed for the entry points: a new
    function instance (its wiring, and what its service remembers, built again)."""
    base: Platform = platform
    bootstrap.use(
        dataclasses.replace(
            base,
            store=CountingDocumentStore(platform.store, counters),
            publisher=CountingPublisher(platform.publisher, counters),
            blobs=CountingBlobStore(platform.blobs, counters),
        )
    )


@pytest.fixture
def counters(platform: InMemoryPlatform) -> Iterator[Counters]:
    counters = Counters()
    install(platform, counters)
    yield counters
    bootstrap.use(platform)


def cost(counters: Counters, event: CloudEvent) -> dict[str, int]:
    """What the upload's function spent on one finalized object."""
    before = counters.snapshot()
    deliver_upload(event)
    spent = counters.since(before)
    return {name: spent[name] for name in SHOWN}


def per_image(reads: int, *, writes: int = 3, class_a: int = 1, class_b: int = 1) -> dict[str, int]:
    return {
        "firestore.reads": reads, "firestore.writes": writes, "pubsub.messages": 1,
        "gcs.class_a": class_a, "gcs.class_b": class_b,
    }  # fmt: skip


def test_an_upload_of_a_large_study_costs_a_few_operations_per_image(
    platform: InMemoryPlatform, counters: Counters
) -> None:
    images = study(n_instances=SLICES, seed=41)
    events = [upload(platform, f"center-1/s/{n}.dcm", data) for n, data in enumerate(images)]
    counters.counts.clear()  # the uploads are the center's, not the function's

    # The study's first image: its catalogue record (none), whether anyone holds the study
    # (no), then the transaction (inbox, record); the output goes up in one request, the
    # upload is read in one and deleted (free).
    assert cost(counters, events[0]) == per_image(4)
    # Every later image on the same instance: the study is known to be this center's.
    for event in events[1:20]:
        assert cost(counters, event) == per_image(3)
    # On another instance, two counts (of at most one record each) learn it again.
    install(platform, counters)
    assert cost(counters, events[20]) == per_image(5)
    for event in events[21:]:
        assert cost(counters, event) == per_image(3)
    announced = [e for e in platform.publisher.messages(NAMES.events_topic)]
    assert sum(isinstance(e.payload, ImageAnonymized) for e in announced) == SLICES


def test_another_centers_study_is_asked_about_on_every_image(
    platform: InMemoryPlatform, counters: Counters
) -> None:
    """Only what a center holds itself is remembered: images of a study another center
    holds are each asked about twice (and de-identified again under the center's UIDs)."""
    images = study(n_instances=4, seed=42)
    for n, data in enumerate(images[:2]):
        deliver_upload(upload(platform, f"center-1/a/{n}.dcm", data))
    events = [upload(platform, f"center-2/a/{n}.dcm", data) for n, data in enumerate(images)]
    # A referral (the instance itself is catalogued): its record, its scoped record, the
    # transaction; the scoped output's name is checked before the first is discarded.
    for event in events[:2]:
        assert cost(counters, event) == per_image(4, class_b=2)
    # An instance of center-1's study that center-1 did not send: two counts as well.
    for event in events[2:]:
        assert cost(counters, event) == per_image(6, class_b=2)
    studies: dict[str, set[str]] = {"center-1": set(), "center-2": set()}
    for envelope in platform.publisher.messages(NAMES.events_topic):
        if isinstance(envelope.payload, ImageAnonymized):
            studies[envelope.payload.data_source].add(envelope.payload.study_id)
    assert len(studies["center-2"]) == 1 and not studies["center-1"] & studies["center-2"]


def test_an_entry_of_a_zip_costs_a_few_operations_per_entry(
    platform: InMemoryPlatform, counters: Counters
) -> None:
    entries = 70  # two completion blocks
    images = study(n_instances=entries, seed=43)
    deliver_upload(
        upload(platform, "center-1/study.zip", zipped({f"IM{n}": d for n, d in enumerate(images)}))
    )
    before = counters.snapshot()
    assert deliver_entries(platform) == entries
    spent = counters.since(before)
    # Per entry: the package record, the inbox (a replay?), the catalogue record, the
    # transaction (inbox, record) and one count of its block: 6. Besides: the study check
    # of the first entry (1 count; the others know the study), the two block finishers'
    # counts of the markers, the last entry's one read of every entry, and the
    # completion's transaction (inbox, package, upload).
    assert spent["firestore.reads"] == entries * 6 + 1 + 2 + entries + 3
    assert spent["firestore.aggregations"] == entries + 1 + 2
    assert spent["firestore.writes"] == entries * 3 + 2 + 3
    assert spent["pubsub.messages"] == entries + 1  # each image, then StudyIngested
    assert spent["gcs.class_a"] == entries  # one request per anonymized copy
    # Each entry's stat of the zip, then one read of it (under 8 MiB: its size is known).
    assert spent["gcs.class_b"] == entries * 2


class _Blob:
    """What GcsBlobStore asks of a storage blob, recording which upload it sends."""

    def __init__(self, name: str, sent: list[tuple[str, bytes]]) -> None:
        self.name, self.sent = name, sent
        self.bucket = SimpleNamespace(name="b")
        self.generation, self.size, self.content_type, self.metadata = 1, 0, None, None
        self.chunk_size: int | None = None

    def upload_from_string(self, data: bytes, **_: object) -> None:
        self.sent.append(("one request", data))  # a multipart upload
        self.size = len(data)

    def upload_from_file(self, stream: BinaryIO, **_: object) -> None:
        self.sent.append(("resumable", b""))  # a request to start, then the chunks
        self.size = len(stream.read())


def test_the_anonymized_copy_goes_up_in_one_request() -> None:
    """The output is a spooled stream: below WRITE_CHUNK it is sent as one multipart upload,
    not a resumable one (two requests and a round trip more); what was read of it already
    is not sent."""
    sent: list[tuple[str, bytes]] = []
    blobs: dict[str, _Blob] = {}
    bucket = SimpleNamespace(
        blob=lambda name, generation=None: blobs.setdefault(name, _Blob(name, sent))
    )
    store = GcsBlobStore(SimpleNamespace(bucket=lambda name: bucket))
    output = io.BytesIO(b"head" + b"x" * 1000)
    output.seek(4)
    assert store.write("b", "small", output).size == 1000
    large = io.BytesIO(b"y" * (WRITE_CHUNK + 1))
    store.write("b", "large", large)
    assert sent == [("one request", b"x" * 1000), ("resumable", b"")]
