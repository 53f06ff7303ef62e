"""gcloud storage cp → fake-gcs → notification → bridge (Eventarc) → ingestion → GCS,
Firestore, events; then the catalogue over HTTP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from pydicom import dcmread

import functions.ingestion.messages  # noqa: F401 - registers the types the watcher reads
from infra.samples.synthetic_dicom import planted_phi
from shared.ports.envelope import Envelope
from tests.e2e.conftest import TopicWatcher, originals_left
from tests.support.leak_checker import check_output, collect_identity, read_full
from tests.unit.ingestion.helpers import study, zipped

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
ANONYMIZED = "co.saludtech.ingestion.image.anonymized.v1"
REJECTED = "co.saludtech.ingestion.image.rejected.v1"
STUDY = "co.saludtech.ingestion.study.ingested.v1"
EVENTS = "ingestion-events"


def gcloud_cp(stack: Any, source: Path, destination: str, *flags: str) -> None:
    env = {**os.environ, **stack.gcloud_env}
    done = subprocess.run(
        ["gcloud", "storage", "cp", *flags, str(source), destination],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def of_center(center: str) -> Callable[[Envelope], bool]:
    return lambda e: e.payload.model_dump().get("data_source") == center


def storage(stack: Any) -> Any:
    from google.cloud import storage as gcs  # type: ignore[attr-defined]

    return gcs.Client(project=stack.project_id)


def test_a_file_uploaded_with_gcloud_is_anonymized_catalogued_and_queryable(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher], tmp_path: Path
) -> None:
    events = watch(EVENTS)
    center = f"center-{uuid.uuid4().hex[:8]}"
    [data] = study(seed=11)
    path = tmp_path / "scan.dcm"
    path.write_bytes(data)
    # A name with PHI in it, as centers do: it must not reach events, logs or outputs.
    gcloud_cp(
        stack, path, f"gs://{stack.bucket('ingest')}/{center}/DOE_JANE_1962.dcm",
        "--custom-metadata=pathology=nodule,clinical_history=smoker",
    )  # fmt: skip

    mine = of_center(center)
    [event] = [e for e in events.wait_for(lambda f: any(map(mine, f)), 60) if mine(e)]
    assert event.type == ANONYMIZED
    image = event.payload.model_dump()
    assert image["pathology"] == "NODULE"
    client = storage(stack)
    output = client.bucket(stack.bucket("anonymized")).blob(image["uri"].split("/", 3)[3])
    assert check_output(output.download_as_bytes(), collect_identity(read_full(data))) == []
    assert originals_left(client, stack.bucket("ingest"), f"{center}/") == []

    base = f"{stack.functions_url}/ingestion_queries_http"
    found = http.get(f"{base}/images/{image['image_id']}", timeout=10).json()
    assert found["image_id"] == image["image_id"] and found["data_source"] == center
    assert found["has_clinical_history"] is True and "smoker" not in json.dumps(found)
    page = http.get(f"{base}/images", params={"center": center, "modality": "ct"}, timeout=10)
    assert [i["image_id"] for i in page.json()["items"]] == [image["image_id"]]
    assert http.get(f"{base}/images/nope", timeout=10).status_code == 404
    logs = (stack.log_dir / "functions.log").read_text()
    planted = dcmread(io.BytesIO(data))
    phi = planted_phi(str(planted.PatientName), str(planted.PatientID), 11)
    for secret in ("DOE", "JANE", "smoker", *phi.values()):
        assert secret not in logs
        assert secret not in json.dumps(image)


def test_bad_uploads_are_quarantined_with_their_reason(
    stack: Any, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch(EVENTS)
    center = f"center-{uuid.uuid4().hex[:8]}"
    bucket = storage(stack).bucket(stack.bucket("ingest"))
    [burned] = study(seed=12, burned_in="YES")
    cases = {
        "notes.dcm": (b"this is not DICOM at all" * 10, "not_dicom"),
        "burned.dcm": (burned, "burned_in_annotation"),
        "traversal.zip": (zipped({"../../etc/passwd": burned}), "zip_path_traversal"),
    }
    for name, (content, _) in cases.items():
        bucket.blob(f"{center}/{name}").upload_from_string(content)

    mine = of_center(center)

    def rejections(found: list[Envelope]) -> list[dict[str, Any]]:
        # Only ImageRejected: the traversal zip also ends in a StudyIngested of this center
        # (no `reason`), which can arrive before the other rejections. Counting every event
        # of the center once made this test read that event as a rejection (KeyError).
        distinct = {e.id: e for e in found if e.type == REJECTED and mine(e)}
        return [e.payload.model_dump() for e in distinct.values()]

    seen = events.wait_for(lambda f: len(rejections(f)) >= len(cases), 90)
    rejected = rejections(seen)
    assert sorted(e["reason"] for e in rejected) == sorted(r for _, r in cases.values())
    quarantine = storage(stack).bucket(stack.bucket("quarantine"))
    sent = {reason: content for content, reason in cases.values()}
    for event in rejected:
        name = event["quarantine_uri"].split("/", 3)[3]
        report = json.loads(quarantine.blob(f"{name}.reason.json").download_as_bytes())
        assert report["reason"] == event["reason"]
        kept = quarantine.blob(name).download_as_bytes()
        # Byte for byte: the upload itself, or the refused entry as it sits in the zip.
        assert kept == sent[event["reason"]] or (
            event["reason"] == "zip_path_traversal" and kept in sent["zip_path_traversal"]
        )


def test_a_zip_of_a_study_fans_out_and_is_announced_once(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher], tmp_path: Path
) -> None:
    events = watch(EVENTS)
    center = f"center-{uuid.uuid4().hex[:8]}"
    images = study(6, seed=13)
    path = tmp_path / "study.zip"
    path.write_bytes(zipped({f"IMG{n:04d}": data for n, data in enumerate(images)}))
    gcloud_cp(stack, path, f"gs://{stack.bucket('ingest')}/{center}/study.zip")

    mine = of_center(center)
    seen = events.wait_for(lambda f: any(e.type == STUDY and mine(e) for e in f), 90)
    distinct = {e.id: e for e in seen if mine(e)}.values()
    assert sorted(e.type for e in distinct) == sorted([ANONYMIZED] * 6 + [STUDY])
    [announced] = [e.payload.model_dump() for e in distinct if e.type == STUDY]
    assert (announced["anonymized"], announced["rejected"]) == (6, 0)
    assert len({e.correlation_id for e in distinct}) == 1  # the package's correlation
    client = storage(stack)
    assert originals_left(client, stack.bucket("ingest"), f"{center}/") == []
    page = http.get(
        f"{stack.functions_url}/ingestion_queries_http/images",
        params={"center": center, "limit": "100"}, timeout=10,
    ).json()  # fmt: skip
    assert len(page["items"]) == 6


def test_a_large_image_is_read_in_ranges_and_anonymized(
    stack: Any, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch(EVENTS)
    center = f"center-{uuid.uuid4().hex[:8]}"
    # Over the one-request limit (8 MiB): read through the ranged, seekable reader.
    [data] = study(seed=14, rows=2100, cols=2100)
    assert len(data) > 8 * 1024 * 1024
    storage(stack).bucket(stack.bucket("ingest")).blob(f"{center}/big.dcm").upload_from_string(data)
    mine = of_center(center)
    [event] = [e for e in events.wait_for(lambda f: any(map(mine, f)), 60) if mine(e)]
    assert event.type == ANONYMIZED
    image = event.payload.model_dump()
    output = storage(stack).bucket(stack.bucket("anonymized")).blob(image["uri"].split("/", 3)[3])
    anonymized = output.download_as_bytes()
    assert len(anonymized) == image["size"] > 8 * 1024 * 1024
    assert check_output(anonymized, collect_identity(read_full(data))) == []
