"""A zip of a study fans out one command per entry; the study is announced once."""

from __future__ import annotations

from typing import Any

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import domain
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.entrypoints import ingestion_ingest_package_entry, ingestion_on_upload
from functions.ingestion.messages import NAMES
from shared.adapters.memory_blob_store import InMemoryBlobStore
from tests.support.cloud_events import pubsub_event
from tests.unit.ingestion.conftest import deliver_entries
from tests.unit.ingestion.helpers import study, upload, zipped

ANONYMIZED = "co.saludtech.ingestion.image.anonymized.v1"
STUDY = "co.saludtech.ingestion.study.ingested.v1"


def package(n: int, seed: int = 3) -> bytes:
    return zipped({f"series/{i:03d}.dcm": data for i, data in enumerate(study(n, seed=seed))})


def events(p: InMemoryPlatform, type_name: str) -> list[Any]:
    return [e for e in p.publisher.messages(NAMES.events_topic) if e.type == type_name]


def test_package_fans_out_and_announces_the_study_once(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    ingestion_on_upload(upload(platform, "center-1/study.zip", package(4), {"pathology": "x"}))
    commands = platform.publisher.messages(NAMES.commands_topic)
    assert [c.payload.entry_index for c in commands] == [0, 1, 2, 3]
    assert {c.correlation_id for c in commands} == {commands[0].payload.package_id}
    assert blobs.list_names(platform.settings.bucket("ingest")) == ["center-1/study.zip"]

    assert deliver_entries(platform) == 4
    images = events(platform, ANONYMIZED)
    assert len(images) == 4 and {e.payload.pathology for e in images} == {"X"}
    [announced] = events(platform, STUDY)
    summary = announced.payload
    assert (summary.entry_count, summary.anonymized, summary.rejected) == (4, 4, 0)
    assert summary.study_ids == [images[0].payload.study_id]
    assert len(blobs.list_names(platform.settings.bucket("anonymized"))) == 4
    # The zip leaves the ingest bucket only once every entry is recorded.
    assert blobs.list_names(platform.settings.bucket("ingest")) == []


def test_duplicated_and_reordered_entries_give_one_record_each(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    event = upload(platform, "center-1/study.zip", package(3))
    ingestion_on_upload(event)
    ingestion_on_upload(event)  # the fan-out again: same command ids
    commands = platform.publisher.messages(NAMES.commands_topic)
    assert len(commands) == 6 and len({c.id for c in commands}) == 3
    deliver_entries(platform, twice=True, reverse=True)
    images = events(platform, ANONYMIZED)
    assert len({e.id for e in images}) == 3
    assert len({e.id for e in events(platform, STUDY)}) == 1
    collection = bootstrap.context(ingestion_wiring.build).collections.images
    assert len(platform.store.query(collection, limit=100).items) == 3


def test_many_blocks_complete_exactly_once(
    platform: InMemoryPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(domain, "COMPLETION_BLOCK", 2)
    ingestion_on_upload(upload(platform, "center-1/study.zip", package(5)))
    deliver_entries(platform, reverse=True)
    [announced] = events(platform, STUDY)
    assert announced.payload.anonymized == 5


def test_unreadable_entry_command_goes_to_the_dead_letter_topic(
    platform: InMemoryPlatform,
) -> None:
    ingestion_ingest_package_entry(pubsub_event(b"{}", {"ce-id": "x"}, "m-1"))
    [(_, attributes)] = platform.publisher.raw[NAMES.dead_letter_topic]
    assert attributes["saludtech-rejection-reason"] == "unsupported_message"
