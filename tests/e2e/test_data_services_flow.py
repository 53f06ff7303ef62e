"""Images uploaded → ingestion → ImageAnonymized → this context's catalogue → a data service
created, staffed, started → chunks copied into the delivery bucket with the manifest and
checksums → finished and revoked: every hop through the bridge, on the emulators."""

from __future__ import annotations

import hashlib
import json
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
from tests.e2e.conftest import TopicWatcher, expert_with_room
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


def command_outcome(http: requests.Session, stack: Any, answer: requests.Response) -> Any:
    """What became of an accepted command (applied or rejected, with its reason)."""
    assert answer.status_code == 202, answer.text
    url = f"{stack.functions_url}{answer.json()['links']['command']}"

    def status() -> dict[str, Any] | None:
        found: dict[str, Any] = http.get(url, timeout=30).json()
        return None if found.get("status") == "pending" else found

    return eventually(status)


def test_each_target_is_fetched_where_its_where_says_and_matches_its_checksums(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    """One catalogue, one service per kind of target: a buyer's bucket (and one whose
    bucket refuses), a managed folder, links, dicomweb. Each delivered dataset is fetched
    through what `where` (or the files route) says, and every file's SHA256 is checked
    against SHA256SUMS, whose names are the manifest's."""
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
    # An expert of its own: this test staffs four services at once.
    expert_code = expert_with_room(base)
    gcs = storage.Client(project=stack.project_id)
    buyer_bucket = f"buyer-{uuid.uuid4().hex[:10]}"
    gcs.create_bucket(buyer_bucket)
    ingest = gcs.bucket(stack.bucket("ingest"))
    for index, data in enumerate(study(n_instances=3, seed=29)):
        blob = ingest.blob(f"{center}/{index}.dcm")
        blob.metadata = {"anatomical_region": "chest", "pathology": "nodule"}
        blob.upload_from_string(data)
    db = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = db.collection(f"{prefix}data_services_catalogue")
    assert eventually(
        lambda: (
            len(list(catalogue.where(filter=FieldFilter("data_source", "==", center)).stream()))
            == 3
        ),
        120,
    ), "the catalogue projection did not get the three images"
    assert eventually(
        lambda: (
            db.collection(f"{prefix}data_services_subscriptions")
            .document(subscription["subscription_id"])
            .get()
            .exists
        )
    )
    doors = f"{base}/data_services_commands_http"
    queries = f"{base}/data_services_queries_http"

    def create_body(cloud: dict[str, str]) -> dict[str, Any]:
        return {
            "subscription_id": subscription["subscription_id"],
            "client_code": client_code,
            "plan": {"code": "PRO", "name": "Professional"},
            "cloud": {"code": "c-1", "name": "target", **cloud},
            "dataset": {
                "code": "chest-nodules",
                "criteria": {"anatomical_region": "chest", "sources": [center]},
            },
        }

    def order(cloud: dict[str, str], before_prepare: Callable[[], None] = lambda: None) -> Any:
        answer = http.post(f"{doors}/data-services", json=create_body(cloud), timeout=30)
        service_id = applied(http, stack, answer)["subject"]
        staffed = {"expert_code": expert_code}
        applied(http, stack, http.post(f"{doors}/data-services/{service_id}/expert", json=staffed))
        before_prepare()
        prepared = command_outcome(
            http, stack, http.post(f"{doors}/data-services/{service_id}/dataset", json={})
        )
        return service_id, prepared

    # A bucket that does not take our writes is answered at once, with what to grant...
    nobody = f"nobody-{uuid.uuid4().hex[:8]}"
    at_once = http.post(
        f"{doors}/data-services", json=create_body({"type": "bucket", "bucket": nobody}), timeout=30
    )
    assert at_once.status_code == 422, at_once.text
    error = at_once.json()["error"]
    assert error["reason"] == "delivery_target_refused"
    assert f"gcloud storage buckets add-iam-policy-binding gs://{nobody}" in error["detail"]
    assert "--role=roles/storage.objectCreator" in error["detail"]
    # ...and one that stops taking them before the prepare fails the prepare, not a refund.
    gone = f"gone-{uuid.uuid4().hex[:8]}"
    gcs.create_bucket(gone)
    refused_id, refused = order(
        {"type": "bucket", "bucket": gone}, before_prepare=lambda: gcs.bucket(gone).delete()
    )
    assert refused["status"] == "rejected" and refused["reason"] == "delivery_target_refused"

    def is_the_rejection(envelope: Any) -> bool:
        return bool(getattr(envelope.payload, "command_id", "") == refused["command_id"])

    rejections = events.wait_for(lambda seen: any(is_the_rejection(e) for e in seen))
    [rejection] = [e.payload for e in rejections if is_the_rejection(e)]
    assert f"add-iam-policy-binding gs://{gone}" in rejection.detail  # type: ignore[attr-defined]

    targets = {
        "bucket": {"type": "bucket", "bucket": buyer_bucket, "prefix": "incoming"},
        "managed_folder": {"type": "managed_folder", "principal": "group:lab@example.org"},
        "links": {"type": "links"},
        "dicomweb": {"type": "dicomweb"},
    }
    services: dict[str, str] = {}
    for kind, cloud in targets.items():
        service_id, prepared = order(cloud)
        assert prepared["status"] == "applied", prepared
        http.post(f"{doors}/data-services/{service_id}/start", json={}, timeout=30)
        services[kind] = service_id
    found = events.wait_for(
        lambda seen: all(
            any(e.type == DELIVERED and e.subject == s for e in seen) for s in services.values()
        ),
        180,
    )
    delivered = {e.subject: e.payload for e in found if e.type == DELIVERED}

    def view(service_id: str) -> dict[str, Any]:
        answer = http.get(f"{queries}/data-services/{service_id}", timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def from_bucket(location: str) -> dict[str, bytes]:
        """What `gcloud storage cp -r <location> .` would fetch."""
        bucket, _, root = location.removeprefix("gs://").partition("/")
        return {
            b.name.removeprefix(f"{root}/"): b.download_as_bytes()
            for b in gcs.list_blobs(bucket, prefix=f"{root}/")
        }

    def from_files_route(service_id: str) -> dict[str, bytes]:
        got: dict[str, bytes] = {}
        cursor = None
        while True:
            params: dict[str, str | int] = {"client_code": client_code, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = http.get(
                f"{queries}/data-services/{service_id}/files", params=params, timeout=30
            )
            assert page.status_code == 200, page.text
            for item in page.json()["items"]:
                fetched = requests.get(item["url"], timeout=30)
                assert fetched.status_code == 200, item["name"]
                got[item["name"]] = fetched.content
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return got

    def checked(files: dict[str, bytes]) -> int:
        sums = files["SHA256SUMS"].decode().splitlines()
        manifest = [json.loads(line) for line in files["manifest.jsonl"].decode().splitlines()]
        assert sorted(m["name"] for m in manifest) == sorted(s.split("  ")[1] for s in sums)
        for line in sums:
            digest, name = line.split("  ")
            assert hashlib.sha256(files[name]).hexdigest() == digest, name
        return len(sums)

    bucket_where = view(services["bucket"])["where"]
    assert bucket_where["location"] == f"gs://{buyer_bucket}/incoming/{services['bucket']}"
    assert bucket_where["fetch_hint"].startswith("gcloud storage cp -r gs://")
    assert checked(from_bucket(bucket_where["location"])) == 3

    folder_where = view(services["managed_folder"])["where"]
    assert folder_where["access_until"] and "gcloud storage cp -r" in folder_where["fetch_hint"]
    assert checked(from_bucket(folder_where["location"])) == 3
    grants = db.collection(f"{prefix}data_services_folder_grants").stream()
    granted = [g.to_dict() or {} for g in grants if services["managed_folder"] in g.id]
    assert granted and granted[0]["grants"][0]["principal"] == "group:lab@example.org"

    links_view = view(services["links"])
    assert "gs://" not in json.dumps(links_view["where"]) + json.dumps(links_view["delivery"])
    assert checked(from_files_route(services["links"])) == 3
    assert not [
        b for b in gcs.list_blobs(stack.bucket("delivery"), prefix=f"{services['links']}/")
        if b.name.endswith(".dcm")
    ]  # fmt: skip

    dicomweb = delivered[services["dicomweb"]]
    assert dicomweb.location.endswith(f"/v1/data-services/{services['dicomweb']}/dicomweb")  # type: ignore[attr-defined]
    # Nothing copied; its manifest files (and the images, as links) through the files route.
    assert checked(from_files_route(services["dicomweb"])) == 3

    # The end: the files route refuses at once, the folder's grant is revoked.
    for kind in ("links", "managed_folder"):
        applied(http, stack, http.post(f"{doors}/data-services/{services[kind]}/finish", json={}))
    ended = http.get(
        f"{queries}/data-services/{services['links']}/files",
        params={"client_code": client_code}, timeout=30,
    )  # fmt: skip
    assert ended.status_code == 410 and ended.json()["error"]["reason"] == "service_ended"
    assert eventually(
        lambda: (
            not [
                g.id
                for g in db.collection(f"{prefix}data_services_folder_grants").stream()
                if services["managed_folder"] in g.id and (g.to_dict() or {}).get("grants")
            ]
        )
    )
    assert refused_id  # refused, and never delivered
    assert refused_id not in delivered
