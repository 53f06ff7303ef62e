"""One DICOM upload: de-identified, stored create-only, catalogued, announced, original gone."""

from __future__ import annotations

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.field_crypto import FieldCipher
from functions.ingestion.messages import NAMES
from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.domain.errors import TransientError
from tests.support.leak_checker import check_output, collect_identity, read_full
from tests.unit.ingestion.helpers import deliver_upload, finalized_event, study, upload

METADATA = {
    "pathology": "nodule",
    "anatomical_region": "chest",
    "clinical_history": "Smoker for 20 years, father of DOE^JANE",
}


def catalogue(p: InMemoryPlatform) -> list[dict[str, object]]:
    collection = bootstrap.context(ingestion_wiring.build).collections.images
    return [doc for _, doc in p.store.query(collection, limit=1000).items]


def test_upload_is_anonymized_stored_catalogued_and_announced(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study()
    deliver_upload(upload(platform, "center-1/scan.dcm", data, METADATA))

    [event] = platform.publisher.messages(NAMES.events_topic)
    assert event.type == "co.saludtech.ingestion.image.anonymized.v1"
    image = event.payload.model_dump()
    assert image["data_source"] == "center-1"
    assert image["pathology"] == "NODULE" and image["anatomical_region"] == "CHEST"
    assert image["modality"] == "CT"
    anonymized = platform.settings.bucket("anonymized")
    expected = (
        f"gs://{anonymized}/{image['patient_token']}/{image['study_id']}/"
        f"{image['series_id']}/{image['image_id']}.dcm"
    )
    assert image["uri"] == expected
    # The original left the ingest bucket; the output passes the independent leak checker.
    assert blobs.list_names(platform.settings.bucket("ingest")) == []
    output = blobs.read_bytes(anonymized, expected.split("/", 3)[3])
    identity = collect_identity(read_full(data))
    assert check_output(output, identity) == []
    assert "DOE" not in str(image)

    [record] = catalogue(platform)
    assert record["image_id"] == image["image_id"]
    assert record["sha256"] == image["sha256"] and record["size"] == len(output)
    assert record["profile"] and "ingested_at" in record
    token = str(record["clinical_history_encrypted"])
    assert "Smoker" not in token
    cipher = FieldCipher.from_settings(platform.settings)
    assert cipher.decrypt(token, str(record["image_id"])) == METADATA["clinical_history"]


def test_duplicate_deliveries_give_one_record_and_the_same_event(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study()
    event = upload(platform, "center-1/scan.dcm", data)
    deliver_upload(event)
    attrs = event.data
    # Eventarc may deliver the same object again with another event id.
    again = finalized_event(
        attrs["bucket"], attrs["name"], int(attrs["generation"]), int(attrs["size"])
    )
    deliver_upload(again)
    deliver_upload(event)

    events = platform.publisher.messages(NAMES.events_topic)
    assert len(events) == 3 and len({e.id for e in events}) == 1
    assert len(catalogue(platform)) == 1
    assert blobs.reads == 1  # the duplicates never read or de-identified anything


def test_crash_after_output_is_completed_by_the_redelivery(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    [data] = study()
    event = upload(platform, "center-1/scan.dcm", data)
    processor = bootstrap.context(ingestion_wiring.build).service.processor

    def crash(envelope: object) -> None:
        raise TransientError("the instance died after writing the output")

    monkeypatch.setattr(processor, "process", crash)
    with pytest.raises(TransientError):
        deliver_upload(event)
    monkeypatch.undo()
    anonymized = platform.settings.bucket("anonymized")
    assert len(blobs.list_names(anonymized)) == 1  # written, not yet recorded
    assert blobs.list_names(platform.settings.bucket("ingest")) == ["center-1/scan.dcm"]

    deliver_upload(event)  # 412 on the output: same digest, so it goes on
    assert len(catalogue(platform)) == 1
    assert platform.publisher.types(NAMES.events_topic) == [
        "co.saludtech.ingestion.image.anonymized.v1"
    ]
    assert blobs.list_names(platform.settings.bucket("ingest")) == []


def test_publish_failure_after_commit_republishes_the_same_event(
    platform: InMemoryPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    [data] = study()
    event = upload(platform, "center-1/scan.dcm", data)
    publish = platform.publisher.publish

    def broken(topic: str, envelopes: object) -> None:
        raise TransientError("pubsub down")

    monkeypatch.setattr(platform.publisher, "publish", broken)
    with pytest.raises(TransientError):
        deliver_upload(event)
    monkeypatch.setattr(platform.publisher, "publish", publish)
    deliver_upload(event)
    [announced] = platform.publisher.messages(NAMES.events_topic)
    assert len(catalogue(platform)) == 1
    assert announced.type.endswith("image.anonymized.v1")


def test_same_patient_same_center_same_token_and_other_buckets_are_ignored(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    first, second = study(n_instances=2)
    deliver_upload(upload(platform, "center-1/1.dcm", first))
    deliver_upload(upload(platform, "center-1/2.dcm", second))
    tokens = {e.payload.model_dump()["patient_token"] for e in platform.publisher.messages(
        NAMES.events_topic)}  # fmt: skip
    assert len(tokens) == 1
    other = finalized_event("someone-elses-bucket", "center-1/x.dcm", 1, 10)
    deliver_upload(other)
    assert len(platform.publisher.messages(NAMES.events_topic)) == 2


def test_concurrent_uploads_borrow_separate_engines(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    events = [
        upload(platform, f"center-1/{n}.dcm", data) for n, data in enumerate(study(8, seed=9))
    ]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(deliver_upload, events))
    assert len(catalogue(platform)) == 8
    engines = bootstrap.context(ingestion_wiring.build).service._engines.qsize()
    assert 1 <= engines <= 4  # reused, not one per file
