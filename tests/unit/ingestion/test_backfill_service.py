"""The backfill service on the in-memory platform: one archived object through the ingestion
service, beside the uploads (functions/ingestion/backfill/service.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.backfill.reading import ArchiveFiles
from functions.ingestion.backfill.service import BackfillService
from functions.ingestion.backfill.sources import ArchiveObject, ArchiveSource, FolderLister
from functions.ingestion.domain import IngestionLimits
from functions.ingestion.messages import NAMES
from tests.unit.ingestion.helpers import deliver_upload, study, upload

ANONYMIZED = "co.saludtech.ingestion.image.anonymized.v1"
REJECTED = "co.saludtech.ingestion.image.rejected.v1"
ARCHIVE = "old-archive"
NOT_DICOM = b"this is not DICOM at all" * 10


def service(p: InMemoryPlatform, center: str | None = None) -> BackfillService:
    ingestion = bootstrap.context(ingestion_wiring.build).service
    return BackfillService(ingestion, ArchiveFiles(p.blobs), center)


def archived(p: InMemoryPlatform, name: str, data: bytes, **metadata: str) -> ArchiveObject:
    info = p.blobs.write(ARCHIVE, name, data, create_only=False, metadata=metadata or None)
    return ArchiveObject(
        "gs", ARCHIVE, name, name.removeprefix("2019/"), info.size, info.generation,
        metadata=dict(metadata),
    )  # fmt: skip


def events(p: InMemoryPlatform, kind: str) -> dict[str, Any]:
    """Distinct events of a type, by id (a replay publishes the same ids again)."""
    return {e.id: e.payload for e in p.publisher.messages(NAMES.events_topic) if e.type == kind}


def catalogue(p: InMemoryPlatform) -> list[dict[str, Any]]:
    collection = bootstrap.context(ingestion_wiring.build).collections.images
    return [doc for _, doc in p.store.query(collection, limit=100).items]


def test_an_archived_object_is_anonymized_catalogued_and_kept(platform: InMemoryPlatform) -> None:
    [data] = study(seed=41)
    obj = archived(platform, "2019/center-a/DOE_JANE.dcm", data, pathology="nodule")

    done = service(platform).backfill(obj)

    assert (done.outcome, done.dead_letter) == ("anonymized", None)
    [image] = events(platform, ANONYMIZED).values()
    assert image.data_source == "center-a" and image.pathology == "NODULE"
    [record] = catalogue(platform)
    assert record["image_id"] == image.image_id
    assert platform.blobs.read_bytes(ARCHIVE, obj.name) == data  # never deleted


def test_an_uploaded_file_backfilled_after_is_one_record_and_one_event(
    platform: InMemoryPlatform,
) -> None:
    [data] = study(seed=42)
    deliver_upload(upload(platform, "center-a/scan.dcm", data))
    [first] = catalogue(platform)

    done = service(platform).backfill(archived(platform, "2019/center-a/scan.dcm", data))

    assert done.outcome == "unchanged"
    assert len(events(platform, ANONYMIZED)) == 1
    assert catalogue(platform) == [first]


def test_a_rerun_reads_nothing_and_announces_no_new_event(platform: InMemoryPlatform) -> None:
    images = study(2, seed=43)
    objects = [archived(platform, f"2019/center-a/{n}.dcm", d) for n, d in enumerate(images)]
    objects.append(archived(platform, "2019/center-a/notes.dcm", NOT_DICOM))
    backfill = service(platform)
    first = [backfill.backfill(obj) for obj in objects]
    announced = set(events(platform, ANONYMIZED)) | set(events(platform, REJECTED))
    stored = sorted(platform.blobs.list_names(platform.settings.bucket("anonymized")))
    # Gone from the archive after the first run: a re-run must not need to read it.
    platform.blobs.delete(ARCHIVE, objects[0].name)

    again = [backfill.backfill(obj) for obj in objects]

    assert [d.outcome for d in first] == ["anonymized", "anonymized", "rejected"]
    assert [d.outcome for d in again] == ["duplicate"] * 3
    # The refused file is a dead letter on every run, the same line each time.
    assert [d.dead_letter for d in again] == [d.dead_letter for d in first]
    assert set(events(platform, ANONYMIZED)) | set(events(platform, REJECTED)) == announced
    assert sorted(platform.blobs.list_names(platform.settings.bucket("anonymized"))) == stored


def test_a_refused_object_is_quarantined_byte_for_byte_and_dead_lettered_without_its_name(
    platform: InMemoryPlatform,
) -> None:
    obj = archived(platform, "2019/center-a/DOE_JANE_notes.dcm", NOT_DICOM)

    done = service(platform).backfill(obj)

    assert done.outcome == "rejected" and done.dead_letter is not None
    [refusal] = events(platform, REJECTED).values()
    assert done.dead_letter == {
        "source_id": refusal.rejection_id,
        "center_id": "center-a",
        "reason": "not_dicom",
        "detail": refusal.detail,
        "quarantine_uri": refusal.quarantine_uri,
    }
    bucket, name = refusal.quarantine_uri.removeprefix("gs://").split("/", 1)
    assert platform.blobs.read_bytes(bucket, name) == NOT_DICOM
    assert "DOE" not in str(done.dead_letter) and "DOE" not in repr(obj)


def test_a_file_of_no_center_or_over_the_limit_is_refused_unread(
    platform: InMemoryPlatform, tmp_path: Path
) -> None:
    [data] = study(seed=44)
    (tmp_path / "loose.dcm").write_bytes(data)
    (tmp_path / "center-b").mkdir()
    (tmp_path / "center-b" / "big.dcm").write_bytes(data)
    loose, big = FolderLister().list(ArchiveSource.parse(str(tmp_path)))
    backfill = service(platform)
    small = IngestionLimits(max_file_bytes=len(data) - 1)
    backfill.ingestion = dataclasses.replace(backfill.ingestion, limits=small)

    refused = [backfill.backfill(loose), backfill.backfill(big)]

    assert [(d.outcome, (d.dead_letter or {}).get("reason")) for d in refused] == [
        ("rejected", "missing_center"),
        ("rejected", "too_large"),
    ]
    for done in refused:
        assert done.dead_letter is not None
        uri = str(done.dead_letter["quarantine_uri"])
        bucket, name = uri.removeprefix("gs://").split("/", 1)
        assert platform.blobs.read_bytes(bucket, name) == data


def test_a_given_center_overrides_the_folder_and_names_the_file_unit(
    platform: InMemoryPlatform, tmp_path: Path
) -> None:
    [data] = study(seed=45)
    (tmp_path / "scan.dcm").write_bytes(data)
    [obj] = FolderLister().list(ArchiveSource.parse(str(tmp_path)))

    done = service(platform, center="center-c").backfill(obj)
    (tmp_path / "copy.dcm").write_bytes(data)  # the same bytes again, under another name
    [copy, _] = FolderLister().list(ArchiveSource.parse(str(tmp_path)))

    assert done.outcome == "anonymized"
    assert service(platform, center="center-c").backfill(copy).outcome == "duplicate"
    [image] = events(platform, ANONYMIZED).values()
    assert image.data_source == "center-c"


def test_zips_are_left_for_an_upload_and_a_vanished_object_is_missing(
    platform: InMemoryPlatform,
) -> None:
    package = archived(platform, "2019/center-a/study.zip", b"PK\x05\x06" + bytes(18))
    [data] = study(seed=46)
    gone = archived(platform, "2019/center-a/gone.dcm", data)
    platform.blobs.delete(ARCHIVE, gone.name)
    backfill = service(platform)

    skipped, missing = backfill.backfill(package), backfill.backfill(gone)

    assert (skipped.outcome, (skipped.dead_letter or {})["reason"]) == (
        "skipped", "package_not_backfilled",
    )  # fmt: skip
    assert (missing.outcome, (missing.dead_letter or {})["reason"]) == ("missing", "source_missing")
    assert platform.publisher.messages(NAMES.events_topic) == []


@pytest.mark.parametrize("text", ["gs://", "/no/such/folder/anywhere"])
def test_a_source_that_is_neither_a_prefix_nor_a_folder_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ArchiveSource.parse(text)
