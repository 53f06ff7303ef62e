"""Images uploaded → ingestion → ImageAnonymized → this context's catalogue → a data service
created, staffed, started → chunks copied into the delivery bucket with the manifest and
checksums → finished and revoked: every hop through the bridge, on the emulators."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import requests

import functions.data_services.messages  # noqa: F401 - registers the types the watcher reads
from infra.samples.clients import SAMPLE_CLIENT
from infra.samples.experts import register_all
from shared.service.context import database_of
from tests.e2e.conftest import TopicWatcher
from tests.unit.ingestion.helpers import study

DATA_SERVICES_DB = database_of("data_services")  # whose catalogue projection is read

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
DELIVERED = "co.saludtech.data_services.data_service.delivered.v1"
FINISHED = "co.saludtech.data_services.data_service.finished.v1"
T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 60) -> T:
    """The probe's first truthy answer, or its last one when the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def applied(http: requests.Session, stack: Any, answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    url = f"{stack.functions_url}{answer.json()['links']['command']}"

    def status() -> dict[str, Any] | None:
        found: dict[str, Any] = http.get(url, timeout=30).json()
        return None if found.get("status") == "pending" else found

    outcome = eventually(status)
    assert outcome and outcome["status"] == "applied", outcome
    return answer.json()  # type: ignore[no-any-return]


def test_images_ingested_in_the_run_are_delivered_as_a_dataset_then_revoked(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    from google.cloud import firestore, storage  # type: ignore[attr-defined]
    from google.cloud.firestore_v1.base_query import FieldFilter

    events = watch("data-services-events")
    center = f"center-{uuid.uuid4().hex[:8]}"

    base = stack.functions_url
    client_code = f"c{uuid.uuid4().hex[:8]}"
    subscription = http.post(
        f"{base}/subscriptions_commands_http/subscriptions",
        json={"client": {**SAMPLE_CLIENT, "code": client_code}, "plan": "PRO"},
        timeout=30,
    ).json()
    register_all(base)
    # The images last: their de-identification keeps the functions host busy for a while.
    gcs = storage.Client(project=stack.project_id)
    ingest = gcs.bucket(stack.bucket("ingest"))
    for index, data in enumerate(study(n_instances=4, seed=23)):
        blob = ingest.blob(f"{center}/{index}.dcm")
        blob.metadata = {"anatomical_region": "chest", "pathology": "nodule"}
        blob.upload_from_string(data)

    db = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = db.collection(f"{prefix}data_services_catalogue")
    projected = eventually(
        lambda: (
            len(list(catalogue.where(filter=FieldFilter("data_source", "==", center)).stream()))
            == 4
        ),
        120,
    )
    assert projected, "the catalogue projection did not get the four images"
    assert eventually(
        lambda: (
            db.collection(f"{prefix}data_services_subscriptions")
            .document(subscription["subscription_id"])
            .get()
            .exists
        )
    )

    doors = f"{base}/data_services_commands_http"
    create = {
        "subscription_id": subscription["subscription_id"],
        "client": {k: SAMPLE_CLIENT[k] for k in ("first_names", "last_names", "username")}
        | {"code": client_code},
        "plan": {"code": "PRO", "name": "Professional"},
        "cloud": {"code": "client-1", "name": "Client bucket", "type": "bucket"},
        "dataset": {
            "code": "chest-nodules",
            "name": "Chest nodules",
            "criteria": {"anatomical_region": "chest", "sources": [center], "max_per_patient": 10},
        },
    }
    service_id = applied(http, stack, http.post(f"{doors}/data-services", json=create, timeout=30))[
        "subject"
    ]
    for step in ("expert", "dataset"):  # the expert, and the dataset frozen into a manifest
        applied(
            http,
            stack,
            http.post(f"{doors}/data-services/{service_id}/{step}", json={}, timeout=30),
        )
    http.post(f"{doors}/data-services/{service_id}/start", json={}, timeout=30)

    mine = [
        e
        for e in events.wait_for(
            lambda found: any(e.type == DELIVERED and e.subject == service_id for e in found), 120
        )
        if e.subject == service_id
    ]
    delivered = next(e.payload for e in mine if e.type == DELIVERED)
    assert delivered.objects == 4  # type: ignore[attr-defined]

    bucket = gcs.bucket(stack.bucket("delivery"))
    names = sorted(b.name for b in gcs.list_blobs(bucket, prefix=f"{service_id}/"))
    assert f"{service_id}/manifest.jsonl" in names and f"{service_id}/SHA256SUMS" in names
    sums = bucket.blob(f"{service_id}/SHA256SUMS").download_as_bytes().decode().splitlines()
    assert len(sums) == 4
    for line in sums:
        digest, relative = line.split("  ")
        data = bucket.blob(f"{service_id}/{relative}").download_as_bytes()
        assert hashlib.sha256(data).hexdigest() == digest

    view = http.get(f"{base}/data_services_queries_http/data-services/{service_id}", timeout=30)
    assert view.json()["status"] == "DELIVERED"
    assert view.json()["progress"]["objects_delivered"] == 4

    applied(
        http, stack, http.post(f"{doors}/data-services/{service_id}/finish", json={}, timeout=30)
    )
    assert eventually(lambda: not list(gcs.list_blobs(bucket, prefix=f"{service_id}/")), 60)
