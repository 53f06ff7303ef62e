"""A zip of a study fans out one command per entry; the study is announced once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import domain
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.entrypoints import ENTRY_POINTS
from functions.ingestion.messages import NAMES, IngestPackageEntry, IngestPackageEntryV2
from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.ports.envelope import Envelope
from tests.support.cloud_events import pubsub_event
from tests.unit.ingestion.conftest import deliver_entries
from tests.unit.ingestion.helpers import deliver_upload, study, upload, zipped

ingestion_ingest_package_entry = ENTRY_POINTS["ingestion_ingest_package_entry"]
ingestion_ingest_package_entry_v2 = ENTRY_POINTS["ingestion_ingest_package_entry_v2"]

ANONYMIZED = "co.saludtech.ingestion.image.anonymized.v1"
STUDY = "co.saludtech.ingestion.study.ingested.v1"


def package(n: int, seed: int = 3) -> bytes:
    return zipped({f"series/{i:03d}.dcm": data for i, data in enumerate(study(n, seed=seed))})


def events(p: InMemoryPlatform, type_name: str) -> list[Any]:
    return [e for e in p.publisher.messages(NAMES.events_topic) if e.type == type_name]


def test_package_fans_out_and_announces_the_study_once(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    deliver_upload(upload(platform, "center-1/study.zip", package(4), {"pathology": "x"}))
    commands = platform.publisher.messages(NAMES.commands_topic)
    payloads = [c.payload.model_dump() for c in commands]
    assert [p["entry_index"] for p in payloads] == [0, 1, 2, 3]
    assert {c.correlation_id for c in commands} == {payloads[0]["package_id"]}
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
    deliver_upload(event)
    deliver_upload(event)  # the fan-out again: same command ids
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
    deliver_upload(upload(platform, "center-1/study.zip", package(5)))
    deliver_entries(platform, reverse=True)
    [announced] = events(platform, STUDY)
    assert announced.payload.anonymized == 5


def test_unreadable_entry_command_goes_to_the_dead_letter_topic(
    platform: InMemoryPlatform,
) -> None:
    ingestion_ingest_package_entry(pubsub_event(b"{}", {"ce-id": "x"}, "m-1"))
    [(_, attributes)] = platform.publisher.raw[NAMES.dead_letter_topic]
    assert attributes["saludtech-rejection-reason"] == "unsupported_message"


def test_entry_commands_name_the_package_by_its_id_only(platform: InMemoryPlatform) -> None:
    deliver_upload(upload(platform, "center-1/DOE_JANE_1962.zip", package(2)))
    for envelope in platform.publisher.messages(NAMES.commands_topic):
        data, attributes = envelope.to_pubsub()
        assert envelope.type == IngestPackageEntryV2.TYPE
        assert set(json.loads(data)) == {"package_id", "entry_index"}
        assert "DOE" not in data.decode() + json.dumps(attributes)
    assert deliver_entries(platform) == 2
    assert len(events(platform, ANONYMIZED)) == 2


def test_an_entry_of_a_package_that_never_existed_is_refused_not_retried(
    platform: InMemoryPlatform,
) -> None:
    command = Envelope(
        payload=IngestPackageEntryV2(package_id="no-such-package", entry_index=0),
        source="/test", id="entry-of-nothing",
    )  # fmt: skip
    data, attributes = command.to_pubsub()
    for attempt in range(2):  # a redelivery answers the same, from the inbox
        ingestion_ingest_package_entry_v2(pubsub_event(data, attributes, f"m-{attempt}"))
    published = platform.publisher.messages(NAMES.events_topic)
    [refused] = list({e.id: e for e in published}.values())  # the same event, republished
    assert refused.type == "co.saludtech.ingestion.command.rejected.v1"
    assert refused.payload.model_dump()["reason"] == "unknown_package"
    assert platform.publisher.raw.get(NAMES.dead_letter_topic, []) == []


def test_v1_entry_commands_still_in_flight_are_ingested(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    event = upload(platform, "center-1/study.zip", package(1))
    deliver_upload(event)
    [v2] = platform.publisher.messages(NAMES.commands_topic)
    platform.publisher.clear_topic(NAMES.commands_topic)
    resource = event.data
    legacy = Envelope(
        payload=IngestPackageEntry(
            package_id=v2.payload.model_dump()["package_id"], bucket=resource["bucket"],
            name=resource["name"], generation=int(resource["generation"]), entry_index=0,
            entry_count=1, center_id="center-1",
        ),
        source="/ingestion", id=v2.id, correlation_id=v2.correlation_id,
    )  # fmt: skip
    # As the old producer sent it: the object name in clear (now a personal field, sealed
    # by whoever serializes it again; a clear one in flight is still read).
    _, attributes = legacy.to_pubsub(platform.sealer)
    data = legacy.payload.model_dump_json().encode()
    ingestion_ingest_package_entry(pubsub_event(data, attributes, "m-legacy"))
    assert len(events(platform, ANONYMIZED)) == 1 and len(events(platform, STUDY)) == 1
    assert blobs.list_names(platform.settings.bucket("ingest")) == []


def test_a_package_recorded_by_a_v1_fan_out_gets_its_name_when_fanned_out_again(
    platform: InMemoryPlatform,
) -> None:
    event = upload(platform, "center-1/study.zip", package(2))
    deliver_upload(event)
    collections = bootstrap.context(ingestion_wiring.build).collections
    [(package_id, record)] = platform.store.query(collections.packages, limit=10).items
    v1_record = {k: v for k, v in record.items() if k not in ("name", "_version")}
    platform.store.run_in_transaction(
        lambda tx: tx.put(collections.packages, package_id, v1_record)
    )
    platform.publisher.clear_topic(NAMES.commands_topic)
    deliver_upload(event)  # the upload redelivered after v2 is deployed
    deliver_entries(platform)
    [announced] = events(platform, STUDY)
    assert announced.payload.model_dump()["anonymized"] == 2
