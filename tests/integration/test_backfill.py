"""The archive backfill on Beam's DirectRunner against the local stack (docs/backfill.md).

A gs:// prefix of an archive bucket in fake-gcs and a folder on disk go through the real
pipeline: anonymized objects, catalogue records in the ingestion database, ImageAnonymized
and ImageRejected on the events topic, the refused file kept byte for byte in quarantine
with its reason and listed in the dead-letter output. A file that is both uploaded and
backfilled is one record and one ImageAnonymized, in either order; a re-run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

import functions.ingestion.messages  # noqa: F401 - registers the types the watcher reads
from functions.ingestion.backfill.pipeline import run
from functions.ingestion.backfill.reading import FILE_UNIT
from functions.ingestion.domain import Upload
from functions.ingestion.unit_of_work import Collections
from shared.config import Settings
from shared.ports.envelope import Envelope, derived_id
from shared.service.context import database_of
from tests.e2e.conftest import TopicWatcher, originals_left
from tests.unit.ingestion.helpers import study

pytestmark = pytest.mark.emulators
ANONYMIZED = "co.saludtech.ingestion.image.anonymized.v1"
REJECTED = "co.saludtech.ingestion.image.rejected.v1"
EVENTS = "ingestion-events"
NOT_DICOM = b"this is not DICOM at all" * 10


def fresh_seed() -> int:
    """Images no other test of the session made: the stack is shared, and the same UIDs
    from another center would be a referral, not the idempotent arrival tested here."""
    return uuid.uuid4().int % 2**31


def storage(stack: Any) -> Any:
    from google.cloud import storage as gcs  # type: ignore[attr-defined]

    return gcs.Client(project=stack.project_id)


def catalogue(image_id: str) -> dict[str, Any] | None:
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    settings = Settings()
    client = firestore.Client(project=settings.project_id, database=database_of("ingestion"))
    return FirestoreDocumentStore(client).get(Collections.from_settings(settings).images, image_id)


def images_of(stack: Any, center: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{stack.functions_url}/ingestion_queries_http/images",
        params={"center": center, "limit": "100"}, timeout=10,
    )  # fmt: skip
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def of_center(found: list[Envelope], center: str, kind: str) -> dict[str, dict[str, Any]]:
    """The distinct events (by id) of one type and center."""
    return {
        e.id: e.payload.model_dump()
        for e in found
        if e.type == kind and e.payload.model_dump().get("data_source") == center
    }


def backfill(source: str, dead_letter: Path, *extra: str) -> dict[str, int]:
    return run([f"--source={source}", f"--dead_letter={dead_letter}", *extra])


def dead_letters(prefix: Path) -> list[dict[str, Any]]:
    lines = []
    for shard in sorted(prefix.parent.glob(f"{prefix.name}*.jsonl")):
        lines += [json.loads(line) for line in shard.read_text().splitlines() if line]
    return lines


def test_a_gs_prefix_is_backfilled_once_beside_the_uploads(stack: Any, tmp_path: Path) -> None:
    events = TopicWatcher(stack.project_id, EVENTS)
    try:
        client = storage(stack)
        center = f"center-{uuid.uuid4().hex[:8]}"
        images = study(3, seed=fresh_seed())
        # One of them was uploaded before the backfill: it must stay one record.
        upload = client.bucket(stack.bucket("ingest")).blob(f"{center}/first.dcm")
        upload.upload_from_string(images[0])
        upload_unit = Upload(stack.bucket("ingest"), upload.name, int(upload.generation), 0)
        uploaded = events.wait_for(lambda f: len(of_center(f, center, ANONYMIZED)) == 1, 60)
        [first] = of_center(uploaded, center, ANONYMIZED).values()

        archive = client.create_bucket(f"{stack.bucket_prefix}-archive-{uuid.uuid4().hex[:6]}")
        # Names with PHI in them, as archives have: in no event, dead letter or record.
        names = ["DOE_JANE_1962.dcm", "DOE_JANE_1963.dcm", "DOE_JANE_1964.dcm"]
        for name, data in zip(names, images, strict=True):
            archive.blob(f"2019/{center}/{name}").upload_from_string(
                data, content_type="application/dicom"
            )
        archive.blob(f"2019/{center}/DOE_JANE_notes.dcm").upload_from_string(NOT_DICOM)
        archive.blob(f"2019/{center}/DOE_JANE.zip").upload_from_string(b"PK\x05\x06" + bytes(18))
        source = f"gs://{archive.name}/2019/"

        counts = backfill(
            source, tmp_path / "first" / "dead", "--direct_num_workers=2",
            "--direct_running_mode=multi_processing",
        )  # fmt: skip

        assert counts == {"listed": 5, "anonymized": 2, "unchanged": 1, "rejected": 1,
                          "skipped": 1}  # fmt: skip
        seen = events.wait_for(lambda f: len(of_center(f, center, ANONYMIZED)) == 3, 60)
        announced = of_center(seen, center, ANONYMIZED)
        assert len(announced) == 3 and first in announced.values()
        records = {i["image_id"]: i for i in images_of(stack, center)}
        assert set(records) == {e["image_id"] for e in announced.values()}
        # The uploaded image's record is the upload's, untouched by the backfill.
        record = catalogue(first["image_id"])
        assert record is not None
        assert record["source_unit_id"] == upload_unit.unit_id
        for image in announced.values():
            name = image["uri"].split("/", 3)[3]
            stored = client.bucket(stack.bucket("anonymized")).get_blob(name)
            assert stored is not None and stored.metadata["sha256"] == image["sha256"]

        rejected = events.wait_for(lambda f: len(of_center(f, center, REJECTED)) == 1, 30)
        [refusal] = of_center(rejected, center, REJECTED).values()
        assert refusal["reason"] == "not_dicom"
        quarantined = refusal["quarantine_uri"].split("/", 3)[3]
        quarantine = client.bucket(stack.bucket("quarantine"))
        assert quarantine.blob(quarantined).download_as_bytes() == NOT_DICOM
        report = json.loads(quarantine.blob(f"{quarantined}.reason.json").download_as_bytes())
        assert report["reason"] == "not_dicom"
        assert report["source"]["name"] == f"2019/{center}/DOE_JANE_notes.dcm"

        letters = dead_letters(tmp_path / "first" / "dead")
        assert sorted(letter["reason"] for letter in letters) == [
            "not_dicom", "package_not_backfilled",
        ]  # fmt: skip
        [letter] = [x for x in letters if x["reason"] == "not_dicom"]
        assert letter["quarantine_uri"] == refusal["quarantine_uri"]
        assert letter["source_id"] == refusal["rejection_id"]
        published = "".join(e.payload.model_dump_json() for e in events.envelopes())
        assert "DOE" not in json.dumps(letters) + published
        # An archive keeps its originals.
        assert len(list(client.list_blobs(archive.name, prefix="2019/"))) == 5

        # Once more: every object is recorded already, nothing new is stored or announced.
        again = backfill(source, tmp_path / "again" / "dead", "--direct_num_workers=1")
        assert again == {"listed": 5, "duplicate": 4, "skipped": 1}
        assert [x["reason"] for x in dead_letters(tmp_path / "again" / "dead")].count(
            "not_dicom"
        ) == 1
        later = events.wait_for(lambda f: False, 3)
        assert of_center(later, center, ANONYMIZED).keys() == announced.keys()
        assert len(of_center(later, center, REJECTED)) == 1
        assert {i["image_id"] for i in images_of(stack, center)} == set(records)
    finally:
        events.close()


def test_a_folder_backfilled_then_uploaded_is_one_record(stack: Any, tmp_path: Path) -> None:
    events = TopicWatcher(stack.project_id, EVENTS)
    try:
        center = f"center-{uuid.uuid4().hex[:8]}"
        [data] = study(1, seed=fresh_seed())
        folder = tmp_path / "archive"
        (folder / center / "DOE_JOHN").mkdir(parents=True)
        (folder / center / "DOE_JOHN" / "scan.dcm").write_bytes(data)

        counts = backfill(
            str(folder), tmp_path / "dead", "--direct_num_workers=2",
            "--direct_running_mode=multi_threading",
        )  # fmt: skip

        assert counts == {"listed": 1, "anonymized": 1}
        seen = events.wait_for(lambda f: len(of_center(f, center, ANONYMIZED)) == 1, 30)
        [image] = of_center(seen, center, ANONYMIZED).values()
        record = catalogue(image["image_id"])
        assert record is not None
        digest = hashlib.sha256(data).hexdigest()
        assert record["source_unit_id"] == derived_id(FILE_UNIT, center, digest)

        # The same file uploaded afterwards: the record's aggregate calls it the same file.
        client = storage(stack)
        client.bucket(stack.bucket("ingest")).blob(f"{center}/again.dcm").upload_from_string(data)
        assert originals_left(client, stack.bucket("ingest"), f"{center}/", timeout=60) == []
        later = events.wait_for(lambda f: False, 3)
        assert list(of_center(later, center, ANONYMIZED)) == list(
            of_center(seen, center, ANONYMIZED)
        )
        assert [i["image_id"] for i in images_of(stack, center)] == [image["image_id"]]
        assert catalogue(image["image_id"]) == record
        assert (folder / center / "DOE_JOHN" / "scan.dcm").read_bytes() == data
    finally:
        events.close()
