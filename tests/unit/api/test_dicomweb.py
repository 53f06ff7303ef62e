"""DICOMweb through the api, in process: a client's own DELIVERED data service only (404 for
another's as for none, 401 anonymous, 403 another role, 409 before delivery, 410 after),
the door's bytes and Content-Type passed on, and the index built once per manifest."""

from __future__ import annotations

import email.parser
import email.policy
import io
from typing import Any

import pydicom
import pytest

from functions import bootstrap
from functions.data_services import wiring as ds_wiring
from functions.data_services.unit_of_work import chunk_doc_id
from infra.samples.clients import SAMPLE_CLIENT
from tests.unit.api.conftest import Answer, Api
from tests.unit.data_services.test_dicomweb import SERIES_A1, SERIES_A2, STUDY_A, dataset, encoded

OWNER = SAMPLE_CLIENT["code"]  # client-a's
SERVICE = "ds-dicomweb-1"
MANIFEST = "mf-dicomweb-1"


def deliver(api: Api, status: str = "DELIVERED", service: str = SERVICE) -> dict[str, bytes]:
    """A data service of client-a whose manifest lists three anonymized instances, stored
    as the data_services context keeps them; the stored bytes by SOP Instance UID."""
    w = bootstrap.context(ds_wiring.build)
    bucket = w.platform.settings.bucket("anonymized")
    stored: dict[str, bytes] = {}
    entries = []
    for series, number, frames in ((SERIES_A1, 1, 2), (SERIES_A1, 2, 1), (SERIES_A2, 1, 1)):
        ds = dataset(STUDY_A, series, number, frames=frames)
        data = encoded(ds)
        name = f"{STUDY_A}/{ds.SOPInstanceUID}.dcm"
        w.platform.blobs.write(bucket, name, data, content_type="application/dicom")
        stored[ds.SOPInstanceUID] = data
        entries.append({
            "image_id": ds.SOPInstanceUID, "patient_token": "pt-1", "study_id": STUDY_A,
            "split": "train", "uri": f"gs://{bucket}/{name}", "sha256": "0" * 64,
            "size": len(data), "modality": "CT", "anatomical_region": None, "pathology": None,
        })  # fmt: skip
    service_doc = {
        "data_service_id": service, "client_code": OWNER, "status": status,
        "manifest": {"manifest_id": MANIFEST, "chunks": 1},
    }  # fmt: skip
    chunk = {"manifest_id": MANIFEST, "chunk": 0, "entries": entries}
    c = w.collections

    def write(tx: Any) -> None:
        tx.put(c.services, service, service_doc)
        tx.put(c.manifest_chunks, chunk_doc_id(MANIFEST, 0), chunk)

    w.platform.store.run_in_transaction(write)
    return stored


def parts(answer: Answer) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related answer: (Content-Type, bytes) each."""
    head = f"Content-Type: {answer.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + answer.raw)
    found = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.append((part.get_content_type(), payload))
    return found


BASE = f"/v1/data-services/{SERVICE}/dicomweb"


@pytest.fixture
def stored(api: Api) -> dict[str, bytes]:
    return deliver(api)


def test_the_owner_searches_and_retrieves(api: Api, stored: dict[str, bytes]) -> None:
    token = api.login("client-a")
    studies = api.call("GET", f"{BASE}/studies", token=token)
    assert studies.status == 200, studies.body
    assert studies.headers["Content-Type"].startswith("application/dicom+json")
    assert [s["0020000D"]["Value"] for s in studies.body] == [[STUDY_A]]
    assert studies.body[0]["00201208"]["Value"] == [3]
    assert "X-Data-Service-Client" not in studies.headers
    series = api.call("GET", f"{BASE}/studies/{STUDY_A}/series", token=token)
    assert [s["0020000E"]["Value"][0] for s in series.body] == [SERIES_A1, SERIES_A2]
    instances = api.call(
        "GET", f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances", token=token,
        query={"SOPInstanceUID": f"{SERIES_A1}.2"},
    )  # fmt: skip
    assert [i["00080018"]["Value"][0] for i in instances.body] == [f"{SERIES_A1}.2"]

    sop = f"{SERIES_A1}.1"
    instance = api.call(
        "GET", f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances/{sop}", token=token
    )
    assert instance.status == 200
    assert instance.headers["Content-Type"].startswith(
        'multipart/related; type="application/dicom"'
    )
    assert parts(instance) == [("application/dicom", stored[sop])]  # byte-identical
    whole_series = api.call("GET", f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}", token=token)
    assert sorted(p for _, p in parts(whole_series)) == sorted(
        [stored[sop], stored[f"{SERIES_A1}.2"]]
    )

    metadata = api.call(
        "GET", f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances/{sop}/metadata",
        token=token,
    )  # fmt: skip
    assert metadata.status == 200
    (attributes,) = metadata.body
    assert attributes["00080018"]["Value"] == [sop] and "7FE00010" not in attributes
    frames = api.call(
        "GET", f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances/{sop}/frames/2,1",
        token=token,
    )  # fmt: skip
    assert frames.status == 200, frames.body
    pixels = pydicom.dcmread(io.BytesIO(stored[sop])).PixelData
    assert parts(frames) == [
        ("application/octet-stream", pixels[12:]),
        ("application/octet-stream", pixels[:12]),
    ]


def test_the_index_is_built_once(api: Api, stored: dict[str, bytes]) -> None:
    token = api.login("client-a")
    blobs = api.platform.blobs  # the one in-memory platform every context uses here
    before = blobs.reads
    assert api.call("GET", f"{BASE}/instances", token=token).status == 200
    assert blobs.reads - before == 3  # each header once
    assert api.call("GET", f"{BASE}/studies", token=token).status == 200
    assert api.call("GET", f"{BASE}/series", token=token, query={"limit": "1"}).status == 200
    assert blobs.reads - before == 3  # then only the index


def test_another_clients_service_is_answered_as_none(api: Api, stored: dict[str, bytes]) -> None:
    other = api.call("GET", f"{BASE}/studies", token=api.login("client-b"))
    missing = api.call(
        "GET", "/v1/data-services/nope/dicomweb/studies", token=api.login("client-a")
    )
    assert other.status == missing.status == 404
    assert (
        other.body
        == missing.body
        == {"error": {"reason": "data_service_not_found", "detail": "no such data service"}}
    )
    sop = f"{SERIES_A1}.1"
    retrieve = f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances/{sop}"
    assert api.call("GET", retrieve, token=api.login("client-b")).status == 404


def test_only_a_client_with_a_token(api: Api, stored: dict[str, bytes]) -> None:
    assert api.call("GET", f"{BASE}/studies").status == 401
    assert api.call("GET", f"{BASE}/studies", token=api.login("center-a")).status == 403


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        ("STARTED", 409, "not_delivered"),
        ("EXPERT_ASSIGNED", 409, "not_delivered"),
        ("FINISHED", 410, "service_ended"),
        ("CANCELLED", 410, "service_ended"),
        ("FAILED", 410, "service_ended"),
    ],
)
def test_served_only_while_delivered(api: Api, status: str, expected: int, reason: str) -> None:
    deliver(api, status=status)
    token = api.login("client-a")
    sop = f"{SERIES_A1}.1"
    for path in ("/studies", f"/studies/{STUDY_A}/series/{SERIES_A1}/instances/{sop}"):
        answer = api.call("GET", BASE + path, token=token)
        assert answer.status == expected, answer.body
        assert answer.body["error"]["reason"] == reason


def test_refusals_of_the_request(api: Api, stored: dict[str, bytes]) -> None:
    token = api.login("client-a")
    unknown = api.call("GET", f"{BASE}/studies", token=token, query={"PatientWeight": "70"})
    assert unknown.status == 400 and unknown.body["error"]["reason"] == "unknown_parameter"
    bad_limit = api.call("GET", f"{BASE}/studies", token=token, query={"limit": "0"})
    assert bad_limit.status == 400 and bad_limit.body["error"]["field"] == "limit"
    no_study = api.call("GET", f"{BASE}/studies/1.2.3/metadata", token=token)
    assert no_study.status == 404 and no_study.body["error"]["reason"] == "study_not_found"
    sop = f"{SERIES_A1}.1"
    frames = f"{BASE}/studies/{STUDY_A}/series/{SERIES_A1}/instances/{sop}/frames"
    assert api.call("GET", f"{frames}/3", token=token).status == 404
    assert api.call("GET", f"{frames}/x", token=token).status == 400
