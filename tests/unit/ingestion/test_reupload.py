"""Re-uploads: the same file again is a no-op; another center or other content is a conflict.

docs/ingestion.md ("Re-uploads") says why a conflict and not two records.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydicom import dcmread

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.domain import Arrival, CatalogueRecord
from functions.ingestion.field_crypto import FieldCipher
from functions.ingestion.handlers import CatalogueChanged
from functions.ingestion.messages import NAMES, CatalogueImage
from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.domain.clock import utc_now
from tests.unit.ingestion.helpers import deliver_upload, dicom_bytes, study, upload

ANONYMIZED = "co.saludtech.ingestion.image.anonymized.v1"
REJECTED = "co.saludtech.ingestion.image.rejected.v1"
METADATA = {"pathology": "nodule", "anatomical_region": "chest", "clinical_history": "smoker"}


def records(p: InMemoryPlatform) -> list[dict[str, Any]]:
    collection = bootstrap.context(ingestion_wiring.build).collections.images
    return [doc for _, doc in p.store.query(collection, limit=100).items]


def event_types(p: InMemoryPlatform) -> list[str]:
    return p.publisher.types(NAMES.events_topic)


def rejection(p: InMemoryPlatform) -> dict[str, Any]:
    [event] = [e for e in p.publisher.messages(NAMES.events_topic) if e.type == REJECTED]
    payload: dict[str, Any] = event.payload.model_dump()
    return payload


def names(p: InMemoryPlatform, blobs: InMemoryBlobStore, bucket: str) -> list[str]:
    return blobs.list_names(p.settings.bucket(bucket))


def test_the_same_file_again_without_metadata_keeps_the_record_as_it_was(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study(seed=21)
    deliver_upload(upload(platform, "center-1/scan.dcm", data, METADATA))
    [first] = records(platform)

    # Again under the same name (a new generation) and under another name, with no metadata.
    deliver_upload(upload(platform, "center-1/scan.dcm", data))
    deliver_upload(upload(platform, "center-1/again/scan-copy.dcm", data))

    [record] = records(platform)
    assert record == first  # pathology, region, encrypted history, ingest time: all kept
    assert record["pathology"] == "NODULE"
    cipher = FieldCipher.from_settings(platform.settings)
    assert cipher.decrypt(record["clinical_history_encrypted"], record["image_id"]) == "smoker"
    assert event_types(platform) == [ANONYMIZED]  # announced once, nothing rejected
    assert len(names(platform, blobs, "anonymized")) == 1
    assert names(platform, blobs, "ingest") == []  # every original left after its no-op
    assert names(platform, blobs, "quarantine") == []


def test_the_same_instance_from_another_center_is_a_conflict_and_leaves_no_orphan(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study(seed=22)
    deliver_upload(upload(platform, "center-1/scan.dcm", data, METADATA))
    [first] = records(platform)

    deliver_upload(upload(platform, "center-2/scan.dcm", data, {"pathology": "other"}))

    [record] = records(platform)
    assert record == first and record["data_source"] == "center-1"
    refused = rejection(platform)
    assert refused["reason"] == "conflicting_image" and refused["data_source"] == "center-2"
    assert refused["detail"] == Arrival.OTHER_CENTER.detail
    # center-2's output (another patient token, so another name) is not left behind.
    assert names(platform, blobs, "anonymized") == [first["uri"].split("/", 3)[3]]
    quarantined = refused["quarantine_uri"].split("/", 3)[3]
    assert blobs.read_bytes(platform.settings.bucket("quarantine"), quarantined) == data
    assert names(platform, blobs, "ingest") == []


def test_other_content_under_the_same_uids_is_a_conflict(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study(seed=23)
    deliver_upload(upload(platform, "center-1/scan.dcm", data))
    [first] = records(platform)
    changed = dcmread(io.BytesIO(data))
    changed.SliceThickness = "9.5"  # a kept attribute: the anonymized bytes differ
    altered = dicom_bytes(changed)

    deliver_upload(upload(platform, "center-1/scan-v2.dcm", altered))

    assert records(platform) == [first]
    refused = rejection(platform)
    assert refused["reason"] == "conflicting_image"
    stored = blobs.read_bytes(platform.settings.bucket("anonymized"), first["uri"].split("/", 3)[3])
    assert len(names(platform, blobs, "anonymized")) == 1
    assert stored  # the catalogued object is the first one, untouched
    quarantined = refused["quarantine_uri"].split("/", 3)[3]
    assert blobs.read_bytes(platform.settings.bucket("quarantine"), quarantined) == altered


def test_a_conflict_found_in_the_transaction_is_retried_then_quarantined_without_orphan(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two centers' copies race: both passed the look-up, center-1 committed first."""
    [data] = study(seed=24)
    deliver_upload(upload(platform, "center-1/scan.dcm", data))
    service = bootstrap.context(ingestion_wiring.build).service
    monkeypatch.setattr(service, "_catalogued", lambda image_id: None)  # a stale look-up
    racing = upload(platform, "center-2/scan.dcm", data)
    with pytest.raises(CatalogueChanged):
        deliver_upload(racing)
    assert len(names(platform, blobs, "anonymized")) == 2  # its output, for now
    monkeypatch.undo()

    deliver_upload(racing)  # the redelivery

    assert rejection(platform)["reason"] == "conflicting_image"
    [record] = records(platform)
    assert names(platform, blobs, "anonymized") == [record["uri"].split("/", 3)[3]]
    assert names(platform, blobs, "ingest") == []


def _command(**changes: Any) -> CatalogueImage:
    facts: dict[str, Any] = {
        "image_id": "2.25.1", "unit_id": "u-1", "patient_token": "t", "study_id": "2.25.2",
        "series_id": "2.25.3", "data_source": "center-1", "uri": "gs://a/t/x.dcm",
        "size": 10, "sha256": "ab", "profile": "basic", "pathology": "NODULE",
    }  # fmt: skip
    return CatalogueImage(**{**facts, **changes})


def test_the_record_decides_what_an_arrival_is_and_announces_only_its_first() -> None:
    record = CatalogueRecord.catalogue(_command(), utc_now())
    [announced] = record.pull_events()
    assert announced.model_dump()["pathology"] == "NODULE"
    assert record.arrival("center-1", "ab", "gs://a/t/x.dcm") is Arrival.SAME
    assert record.arrival("center-2", "ab", "gs://a/u/x.dcm") is Arrival.OTHER_CENTER
    assert record.arrival("center-1", "cd", "gs://a/t/x.dcm") is Arrival.OTHER_CONTENT
    assert record.arrival("center-1", "ab", "gs://a/v/x.dcm") is Arrival.OTHER_CONTENT
    assert not Arrival.SAME.is_conflict and Arrival.OTHER_CENTER.is_conflict
    assert not record.has_changes  # deciding never changes the record
