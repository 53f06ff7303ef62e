"""An in-memory platform per test, with the ingestion functions wired to it."""

from __future__ import annotations

import pytest

from functions import bootstrap
from functions.ingestion import names
from functions.ingestion.entrypoints import ingestion_ingest_package_entry
from shared.adapters.memory_blob_store import InMemoryBlobStore
from tests.support.cloud_events import pubsub_event


@pytest.fixture
def blobs(platform: bootstrap.Platform) -> InMemoryBlobStore:
    store = bootstrap.ingestion_blobs(platform)
    assert isinstance(store, InMemoryBlobStore)
    return store


def deliver_entries(p: bootstrap.Platform, *, twice: bool = False, reverse: bool = False) -> int:
    """Play Pub/Sub + Eventarc for the entry commands published so far."""
    commands = list(p.publisher.messages(names.COMMANDS_TOPIC))
    p.publisher._topics[names.COMMANDS_TOPIC].clear()
    if reverse:
        commands.reverse()
    for n, envelope in enumerate(commands):
        data, attributes = envelope.to_pubsub()
        for attempt in range(2 if twice else 1):
            ingestion_ingest_package_entry(pubsub_event(data, attributes, f"m-{n}-{attempt}"))
    return len(commands)
