"""An in-memory platform per test, with the ingestion functions wired to it."""

from __future__ import annotations

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.ingestion.entrypoints import ENTRY_POINTS
from functions.ingestion.messages import NAMES, IngestPackageEntry, IngestPackageEntryV2
from shared.adapters.memory_blob_store import InMemoryBlobStore
from tests.support.cloud_events import pubsub_event


@pytest.fixture
def blobs(platform: InMemoryPlatform) -> InMemoryBlobStore:
    store = platform.blobs
    assert isinstance(store, InMemoryBlobStore)
    return store


# What the trigger filters of infra/topology.yaml route each entry command type to.
ENTRY_FUNCTIONS = {
    IngestPackageEntryV2.TYPE: ENTRY_POINTS["ingestion_ingest_package_entry_v2"],
    IngestPackageEntry.TYPE: ENTRY_POINTS["ingestion_ingest_package_entry"],
}


def deliver_entries(p: InMemoryPlatform, *, twice: bool = False, reverse: bool = False) -> int:
    """Play Pub/Sub + Eventarc (filtered on ce-type) for the entry commands published so far."""
    commands = list(p.publisher.messages(NAMES.commands_topic))
    p.publisher.clear_topic(NAMES.commands_topic)
    if reverse:
        commands.reverse()
    for n, envelope in enumerate(commands):
        data, attributes = envelope.to_pubsub()
        for attempt in range(2 if twice else 1):
            function = ENTRY_FUNCTIONS[envelope.type]
            function(pubsub_event(data, attributes, f"m-{n}-{attempt}"))
    return len(commands)
