"""DICOMweb on the emulators: images ingested and anonymized, a data service delivered (as
test_data_services_flow does), then opened through the api with the buyer's token by
`dicomweb-client`, as a viewer would: search studies, series, instances; retrieve an
instance, its metadata, its frames. What comes back is the anonymized object, with none of
the identifiers planted in the originals."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import uuid
from typing import Any

import pydicom
import pytest
import requests

import functions.data_services.messages  # noqa: F401 - registers the types read back
from functions.identity.messages import Role
from infra.samples.clients import SAMPLE_CLIENT
from shared.service.context import database_of
from tests.e2e.conftest import expert_with_room
from tests.e2e.test_api_flow import api_url, login, register
from tests.e2e.test_data_services_flow import applied, eventually
from tests.unit.ingestion.helpers import study

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
DATA_SERVICES_DB = database_of("data_services")


def _planted(originals: list[bytes]) -> set[str]:
    """What identifies the patients in the originals (never in an anonymized object)."""
    found: set[str] = set()
    for data in originals:
        ds = pydicom.dcmread(io.BytesIO(data))
        for keyword in ("PatientName", "PatientID", "AccessionNumber", "InstitutionName",
                        "ReferringPhysicianName", "StudyInstanceUID", "SeriesInstanceUID",
                        "SOPInstanceUID", "OtherPatientIDs", "PatientAddress"):  # fmt: skip
            value = str(ds.get(keyword) or "")
            if len(value) >= 6:
                found.add(value)
    return found


def _parts(answer: requests.Response) -> list[bytes]:
    head = f"Content-Type: {answer.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + answer.content)
    found = [part.get_payload(decode=True) for part in message.iter_parts()]
    return [p for p in found if isinstance(p, bytes)]


def _delivered_service(
    stack: Any, http: requests.Session, originals: list[bytes]
) -> tuple[str, str]:
    """Ingest `originals` for a fresh center, then create, staff, prepare and start a data
    service of a fresh client over them; its id once DELIVERED."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]
    from google.cloud.firestore_v1.base_query import FieldFilter

    base = stack.functions_url
    center = f"center-{uuid.uuid4().hex[:8]}"
    client_code = f"c{uuid.uuid4().hex[:8]}"
    subscription = http.post(
        f"{base}/subscriptions_commands_http/subscriptions",
        json={"client": {**SAMPLE_CLIENT, "code": client_code}, "plan": "PRO"}, timeout=30,
    ).json()  # fmt: skip
    expert_with_room(base)
    ingest = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
    for index, data in enumerate(originals):
        blob = ingest.blob(f"{center}/{index}.dcm")
        blob.metadata = {"anatomical_region": "chest", "pathology": "nodule"}
        blob.upload_from_string(data)
    db = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = db.collection(f"{prefix}data_services_catalogue")
    mine = catalogue.where(filter=FieldFilter("data_source", "==", center))
    assert eventually(lambda: len(list(mine.stream())) == len(originals), 120)
    subscriptions = db.collection(f"{prefix}data_services_subscriptions")
    assert eventually(lambda: subscriptions.document(subscription["subscription_id"]).get().exists)

    doors = f"{base}/data_services_commands_http"
    create = {
        "subscription_id": subscription["subscription_id"],
        "client_code": client_code,
        "plan": {"code": "PRO", "name": "Professional"},
        "cloud": {"code": "client-1", "name": "Client bucket", "type": "bucket"},
        "dataset": {
            "code": "chest-nodules", "name": "Chest nodules",
            "criteria": {"anatomical_region": "chest", "sources": [center], "max_per_patient": 10},
        },
    }  # fmt: skip
    answer = http.post(f"{doors}/data-services", json=create, timeout=30)
    service_id: str = applied(http, stack, answer)["subject"]
    for step in ("expert", "dataset", "start"):
        applied(http, stack, http.post(f"{doors}/data-services/{service_id}/{step}", json={},
                                       timeout=30))  # fmt: skip
    view_url = f"{base}/data_services_queries_http/data-services/{service_id}"
    assert eventually(
        lambda: http.get(view_url, timeout=30).json()["status"] == "DELIVERED", 120
    ), http.get(view_url, timeout=30).json()
    return client_code, service_id


def test_a_delivered_dataset_opens_with_dicomweb_client(stack: Any, http: requests.Session) -> None:
    from dicomweb_client.api import DICOMwebClient

    originals = study(n_instances=3, seed=83)
    client_code, service_id = _delivered_service(stack, http, originals)
    auth = login(stack, register(Role.CLIENT, client_code))
    base = f"{api_url(stack)}/v1/data-services/{service_id}/dicomweb"
    client = DICOMwebClient(url=base, headers=auth)

    studies = client.search_for_studies()
    assert len(studies) == 1
    study_uid = studies[0]["0020000D"]["Value"][0]
    assert studies[0]["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    series = client.search_for_series(study_uid)
    assert len(series) == 1
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = client.search_for_instances(study_uid, series_uid)
    assert len(instances) == 3
    sop_uid = instances[0]["00080018"]["Value"][0]
    only = client.search_for_instances(study_uid, search_filters={"SOPInstanceUID": sop_uid})
    assert [i["00080018"]["Value"][0] for i in only] == [sop_uid]

    instance = client.retrieve_instance(study_uid, series_uid, sop_uid)
    metadata = client.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
    frames = client.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])
    assert instance.SOPInstanceUID == sop_uid and instance.StudyInstanceUID == study_uid
    assert metadata["00080018"]["Value"] == [sop_uid] and "7FE00010" not in metadata
    # The anonymized object the manifest names, as stored: sent byte for byte.
    from google.cloud import storage  # type: ignore[attr-defined]

    manifest = http.get(
        f"{stack.functions_url}/data_services_queries_http/data-services/{service_id}/manifest",
        timeout=30,
    ).json()  # fmt: skip
    [uri] = [e["uri"] for e in manifest["entries"] if e["image_id"] == sop_uid]
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    data = storage.Client(project=stack.project_id).bucket(bucket).blob(name).download_as_bytes()
    stored = pydicom.dcmread(io.BytesIO(data))
    assert stored.SOPInstanceUID == sop_uid
    assert instance.PixelData == stored.PixelData
    assert frames == [stored.PixelData]  # one frame, uncompressed
    raw_answer = requests.get(
        f"{base}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}",
        headers={**auth, "Accept": 'multipart/related; type="application/dicom"'}, timeout=30,
    )  # fmt: skip
    assert raw_answer.status_code == 200
    assert _parts(raw_answer) == [data]

    # Nothing that identified the patients in the originals.
    answered = json.dumps([studies, series, instances, metadata])
    for secret in _planted(originals):
        assert secret not in answered, secret
        assert secret.encode() not in data, secret

    # Another client's token: the service is none of theirs.
    other = login(stack, register(Role.CLIENT, f"c{uuid.uuid4().hex[:8]}"))
    refused = requests.get(f"{base}/studies", headers=other, timeout=10)
    assert refused.status_code == 404
    assert refused.json()["error"]["reason"] == "data_service_not_found"
