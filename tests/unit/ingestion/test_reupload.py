"""Re-uploads: the same file again is a no-op; other content is a conflict; another center's
copy (a referral) is that center's own image, linked only by the internal instance key.

docs/ingestion.md ("Re-uploads") and docs/decisions/0013-referrals.md say why.
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


def test_the_same_instance_from_another_center_is_its_own_image_and_reveals_nothing(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study(seed=22)
    deliver_upload(upload(platform, "center-1/scan.dcm", data, METADATA))
    [first] = records(platform)

    deliver_upload(upload(platform, "center-2/scan.dcm", data, {"pathology": "other"}))

    both = {r["data_source"]: r for r in records(platform)}
    assert both["center-1"] == first  # the first record is untouched
    second = both["center-2"]
    # Distinct images of distinct pseudonymous patients: no id of one is in the other.
    for name in ("image_id", "study_id", "series_id", "patient_token", "uri"):
        assert second[name] != first[name]
    assert second["pathology"] == "OTHER"  # its own descriptors
    # Linked for the platform only: the same instance key.
    assert second["instance_key"] == first["instance_key"] and first["instance_key"]
    assert event_types(platform) == [ANONYMIZED, ANONYMIZED]  # nothing rejected
    assert names(platform, blobs, "quarantine") == []
    assert names(platform, blobs, "ingest") == []
    stored = names(platform, blobs, "anonymized")
    assert sorted(stored) == sorted(r["uri"].split("/", 3)[3] for r in (first, second))
    # Nothing center-2 can read names center-1 or its ids.
    copy = dcmread(io.BytesIO(blobs.read_bytes(platform.settings.bucket("anonymized"),
                                               second["uri"].split("/", 3)[3])))  # fmt: skip
    assert copy.SOPInstanceUID == second["image_id"]
    assert copy.StudyInstanceUID == second["study_id"]
    text = repr(second)
    for secret in ("center-1", first["image_id"], first["study_id"], first["patient_token"]):
        assert secret not in text


def test_the_second_center_does_not_block_the_first_either_way(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study(seed=25)
    deliver_upload(upload(platform, "center-2/scan.dcm", data))
    deliver_upload(upload(platform, "center-1/scan.dcm", data))
    # Each center's re-upload is its own no-op, whoever came first.
    deliver_upload(upload(platform, "center-1/again.dcm", data))
    deliver_upload(upload(platform, "center-2/again.dcm", data))

    assert sorted(r["data_source"] for r in records(platform)) == ["center-1", "center-2"]
    assert event_types(platform) == [ANONYMIZED, ANONYMIZED]
    assert names(platform, blobs, "quarantine") == []


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


def test_a_referral_found_in_the_transaction_is_retried_then_catalogued_without_orphan(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two centers' copies race: both passed the look-up, center-1 committed first."""
    [data] = study(seed=24)
    deliver_upload(upload(platform, "center-1/scan.dcm", data))
    service = bootstrap.context(ingestion_wiring.build).service
    monkeypatch.setattr(service, "_catalogued", lambda image_id: None)  # stale look-ups
    monkeypatch.setattr(service, "_study_elsewhere", lambda study, center: False)
    racing = upload(platform, "center-2/scan.dcm", data)
    with pytest.raises(CatalogueChanged):
        deliver_upload(racing)
    assert len(names(platform, blobs, "anonymized")) == 2  # its output, for now
    monkeypatch.undo()

    deliver_upload(racing)  # the redelivery

    assert event_types(platform) == [ANONYMIZED, ANONYMIZED]
    stored = sorted(r["uri"].split("/", 3)[3] for r in records(platform))
    assert sorted(names(platform, blobs, "anonymized")) == stored  # the raced output is gone
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
    assert record.arrival("center-2", "ab", "gs://a/u/x.dcm") is Arrival.REFERRAL
    assert record.arrival("center-1", "cd", "gs://a/t/x.dcm") is Arrival.OTHER_CONTENT
    assert record.arrival("center-1", "ab", "gs://a/v/x.dcm") is Arrival.OTHER_CONTENT
    assert not Arrival.SAME.is_conflict and not Arrival.REFERRAL.is_conflict
    assert Arrival.OTHER_CONTENT.is_conflict and not Arrival.REFERRAL.detail
    assert not record.has_changes  # deciding never changes the record
