"""STOW-RS on the emulators: a center sends instances through the api with `dicomweb-client`,
as a modality or a PACS would, and with curl and a multipart/related body built by hand;
what was received then goes through ingestion into the center's own catalogue."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests

from functions.identity.messages import Role
from tests.e2e.test_api_flow import api_url, login, register, until
from tests.unit.ingestion.helpers import study

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]


def test_a_center_stores_instances_with_stow_rs_into_its_catalogue(
    stack: Any, tmp_path: Path
) -> None:
    from dicomweb_client.api import DICOMwebClient

    center = f"center-{uuid.uuid4().hex[:8]}"
    auth = login(stack, register(Role.CENTER, center))
    base = api_url(stack)
    originals = study(4, seed=47)
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in originals]
    uids = [str(ds.SOPInstanceUID) for ds in datasets]

    # dicomweb-client, as a viewer or a PACS would send them; in chunks (Transfer-Encoding:
    # chunked), so the body's length is not told beforehand.
    client = DICOMwebClient(url=f"{base}/v1/dicomweb", headers=auth, chunk_size=4096)
    answer = client.store_instances(datasets[:2])
    assert [str(item.ReferencedSOPInstanceUID) for item in answer.ReferencedSOPSequence] == uids[:2]
    assert "FailedSOPSequence" not in answer

    # curl, a body built by hand: two instances of the study, and a part that is none.
    boundary = uuid.uuid4().hex
    parts = [*originals[2:], b"not a DICOM file"]
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
            for part in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    (tmp_path / "body").write_bytes(body)
    study_uid = str(datasets[0].StudyInstanceUID)
    sent = subprocess.run(
        ["curl", "-sS", "-o", str(tmp_path / "answer"), "-w", "%{http_code} %{content_type}",
         "-X", "POST", "--data-binary", f"@{tmp_path / 'body'}",
         "-H", f"Authorization: {auth['Authorization']}",
         "-H", f'Content-Type: multipart/related; type="application/dicom"; boundary={boundary}',
         f"{base}/v1/dicomweb/studies/{study_uid}"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert sent.stdout == "202 application/dicom+json", sent.stdout
    received = json.loads((tmp_path / "answer").read_text())
    stored = [item["00081155"]["Value"][0] for item in received["00081199"]["Value"]]
    assert stored == uids[2:]
    (failed,) = received["00081198"]["Value"]
    assert failed == {"00081197": {"vr": "US", "Value": [0xC000]}}

    # A client may not store; every instance received is catalogued, as the center's.
    buyer = login(stack, register(Role.CLIENT, uuid.uuid4().hex[:8]))
    refused = requests.post(
        f"{base}/v1/dicomweb/studies", data=body, headers={**buyer, "Content-Type": (
            f'multipart/related; type="application/dicom"; boundary={boundary}')}, timeout=10,
    )  # fmt: skip
    assert refused.status_code == 403

    def catalogued() -> list[dict[str, Any]]:
        page: dict[str, Any] = requests.get(f"{base}/v1/images", headers=auth, timeout=10).json()
        items: list[dict[str, Any]] = page["items"]
        return items if len(items) >= 4 else []

    images = until(catalogued, timeout=45)
    assert [image["data_source"] for image in images] == [center] * 4
