"""Nothing lost, nothing leaked: every kind of bad input ends in quarantine with its reason."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from typing import Any

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.domain import IngestionLimits, quarantine_name, reason_name
from functions.ingestion.messages import NAMES
from shared.adapters.memory_blob_store import InMemoryBlobStore
from tests.unit.ingestion.conftest import deliver_entries
from tests.unit.ingestion.helpers import deliver_upload, study, upload, zipped

PHI_NAME = "center-1/DOE_JANE_1962.dcm"


def rejections(p: InMemoryPlatform) -> list[dict[str, object]]:
    return [e.payload.model_dump() for e in p.publisher.messages(NAMES.events_topic)
            if e.type.endswith("image.rejected.v1")]  # fmt: skip


def assert_quarantined(
    p: InMemoryPlatform, blobs: InMemoryBlobStore, reason: str, original: bytes | None
) -> dict[str, object]:
    [event] = rejections(p)
    assert event["reason"] == reason
    # The object name may hold PHI: neither the event nor the quarantine name carries it.
    assert "DOE" not in json.dumps(event)
    quarantine = p.settings.bucket("quarantine")
    name = str(event["quarantine_uri"]).split("/", 3)[3]
    report = json.loads(blobs.read_bytes(quarantine, f"{name}.reason.json"))
    assert report["reason"] == reason and report["rejection_id"] == event["rejection_id"]
    if original is not None:
        assert blobs.read_bytes(quarantine, name) == original
    return event


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"just some text, not an image" * 20, "not_dicom"),
        (b"", "not_dicom"),
    ],
)
def test_not_dicom(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore, content: bytes, reason: str
) -> None:
    deliver_upload(upload(platform, PHI_NAME, content))
    assert_quarantined(platform, blobs, reason, content)
    assert blobs.list_names(platform.settings.bucket("ingest")) == []
    assert blobs.list_names(platform.settings.bucket("anonymized")) == []


def test_burned_in_annotation_is_quarantined_not_anonymized(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study(burned_in="YES")
    deliver_upload(upload(platform, PHI_NAME, data))
    assert_quarantined(platform, blobs, "burned_in_annotation", data)
    assert blobs.list_names(platform.settings.bucket("anonymized")) == []


def test_oversize_is_quarantined_unread(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study()
    service = bootstrap.context(ingestion_wiring.build).service
    service.limits = IngestionLimits(max_file_bytes=len(data) - 1)
    deliver_upload(upload(platform, PHI_NAME, data))
    assert_quarantined(platform, blobs, "too_large", data)
    assert blobs.reads == 0


def test_upload_outside_a_center_folder(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [data] = study()
    deliver_upload(upload(platform, "scan.dcm", data))
    event = assert_quarantined(platform, blobs, "missing_center", data)
    assert event["data_source"] == "unknown-center"


def test_zip_bomb_is_refused_as_a_whole(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    bomb = zipped({"a.dcm": b"\0" * (8 * 1024 * 1024)})
    service = bootstrap.context(ingestion_wiring.build).service
    service.limits = IngestionLimits(max_zip_bytes=4 * 1024 * 1024)
    deliver_upload(upload(platform, "center-1/study.zip", bomb, content_type="x"))
    assert_quarantined(platform, blobs, "zip_bomb", bomb)
    assert platform.publisher.messages(NAMES.commands_topic) == []


def test_corrupt_zip(platform: InMemoryPlatform, blobs: InMemoryBlobStore) -> None:
    broken = b"PK\x03\x04 not really a zip"
    deliver_upload(upload(platform, "center-1/study.zip", broken))
    assert_quarantined(platform, blobs, "zip_corrupt", broken)


def test_high_ratio_entry_is_a_bomb_and_the_rest_of_the_package_goes_on(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [good] = study()
    package = zipped({"1.dcm": good, "2.dcm": b"\0" * (4 * 1024 * 1024)})
    deliver_upload(upload(platform, "center-1/study.zip", package))
    deliver_entries(platform)
    [event] = rejections(platform)
    assert event["reason"] == "zip_bomb" and event["entry_index"] == 1
    types = platform.publisher.types(NAMES.events_topic)
    assert types.count("co.saludtech.ingestion.image.anonymized.v1") == 1
    assert types[-1] == "co.saludtech.ingestion.study.ingested.v1"


def quarantined(p: InMemoryPlatform, blobs: InMemoryBlobStore, event: dict[str, object]) -> bytes:
    name = str(event["quarantine_uri"]).split("/", 3)[3]
    return blobs.read_bytes(p.settings.bucket("quarantine"), name)


def report_of(p: InMemoryPlatform, blobs: InMemoryBlobStore, event: dict[str, object]) -> Any:
    name = quarantine_name(str(event["data_source"]), str(event["rejection_id"]))
    return json.loads(blobs.read_bytes(p.settings.bucket("quarantine"), reason_name(name)))


def inflate_member(raw: bytes) -> bytes:
    """What a reviewer does with a kept member: skip its local header, inflate the rest."""
    assert raw[:4] == b"PK\x03\x04"
    name_length, extra_length = struct.unpack("<HH", raw[26:30])
    return zlib.decompress(raw[30 + name_length + extra_length :], -15)


def test_unsafe_entry_name_is_kept_as_its_raw_member(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    [good, evil] = study(2)
    package = zipped({"ok.dcm": good, "../../etc/passwd": evil})
    deliver_upload(upload(platform, "center-1/study.zip", package))
    deliver_entries(platform)
    [event] = rejections(platform)
    assert event["reason"] == "zip_path_traversal"
    raw = quarantined(platform, blobs, event)
    assert raw in package and inflate_member(raw) == evil  # byte for byte, as sent
    assert report_of(platform, blobs, event)["member"]["bytes"] == len(raw)


def test_bomb_entry_is_kept_compressed_never_inflated(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    bomb = b"\0" * (4 * 1024 * 1024)
    package = zipped({"1.dcm": study()[0], "2.dcm": bomb})
    deliver_upload(upload(platform, "center-1/study.zip", package))
    deliver_entries(platform)
    [event] = rejections(platform)
    raw = quarantined(platform, blobs, event)
    assert event["reason"] == "zip_bomb" and len(raw) < 64 * 1024 < len(bomb)
    assert raw in package and inflate_member(raw) == bomb


def test_entry_that_is_not_dicom_is_kept_as_inflated(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    notes = b"referral letter, not an image " * 50
    package = zipped({"1.dcm": study()[0], "notes.txt": notes})
    deliver_upload(upload(platform, "center-1/study.zip", package))
    deliver_entries(platform)
    [event] = rejections(platform)
    assert event["reason"] == "not_dicom" and quarantined(platform, blobs, event) == notes


def test_entry_the_package_cannot_locate_keeps_the_whole_package_once(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    package = bytearray(zipped({"1.dcm": study()[0], "2.dcm": study(seed=8)[0]}))
    with zipfile.ZipFile(io.BytesIO(bytes(package))) as archive:
        second = archive.infolist()[1].header_offset
    package[second : second + 4] = b"XX\x03\x04"  # a broken local header
    deliver_upload(upload(platform, "center-1/study.zip", bytes(package)))
    deliver_entries(platform)
    [event] = rejections(platform)
    assert event["reason"] == "zip_corrupt"
    assert quarantined(platform, blobs, event) == bytes(package)
    assert report_of(platform, blobs, event)["kept"] == "the whole package, byte for byte"
