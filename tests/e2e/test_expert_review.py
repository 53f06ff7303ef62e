"""The expert's work on the emulators, through /v1: an operator registers an expert; a data
service whose review is required is assigned to it and its start is held; the expert lists
its assignments, previews an image (a PNG rendered from the anonymized DICOM object),
excludes one image and approves; the delivery then starts and holds one image less.

The catalogue is fed by ImageAnonymized events published as ingestion publishes them (with
their anonymized objects written beside), so the test needs no de-identification run."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from PIL import Image

import functions.data_services.messages  # noqa: F401 - registers the types the watcher reads
from functions.identity.messages import Role
from infra.samples.clients import SAMPLE_CLIENT
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.ports.envelope import Envelope
from shared.service.context import database_of
from tests.e2e.conftest import STACK_SEALER, TopicWatcher
from tests.e2e.test_api_flow import api_url, login, register
from tests.unit.data_services.dicoms import dicom_bytes
from tests.unit.data_services.factories import image_event

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
DELIVERED = "co.saludtech.data_services.data_service.delivered.v1"
STARTED = "co.saludtech.data_services.data_service.started.v1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGES = 4


def eventually(probe: Callable[[], Any], timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def applied(base: str, auth: dict[str, str], answer: requests.Response) -> dict[str, Any]:
    """The accepted command's answer, once /v1/commands/<id> says it was applied."""
    assert answer.status_code == 202, answer.text
    url = f"{base}{answer.json()['links']['command']}"

    def status() -> dict[str, Any] | None:
        found: dict[str, Any] = requests.get(url, headers=auth, timeout=30).json()
        return None if found.get("status") == "pending" else found

    outcome = eventually(status)
    assert outcome and outcome["status"] == "applied", outcome
    return answer.json()  # type: ignore[no-any-return]


def _catalogue(stack: Any, source: str) -> None:
    """IMAGES anonymized images of 2 patients (objects and their ImageAnonymized events)."""
    from google.cloud import storage  # type: ignore[attr-defined]

    bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("anonymized"))
    data = dicom_bytes(96, 80)
    envelopes = []
    for index in range(IMAGES):
        event = image_event(index, patient=f"pt-{source}-{index % 2}", source=source)
        name = f"{source}/{event.image_id}.dcm"
        bucket.blob(name).upload_from_string(data, content_type="application/dicom")
        event = event.model_copy(
            update={
                "image_id": f"{source}-{index}",
                "uri": f"gs://{bucket.name}/{name}",
                "size": len(data),
            }
        )
        envelopes.append(Envelope(payload=event, source="/saludtech/ingestion"))
    PubSubPublisher(stack.project_id, sealer=STACK_SEALER).publish("ingestion-events", envelopes)


def _projected(stack: Any, source: str) -> int:
    """The images of `source` in the data services' catalogue projection."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    db = firestore.Client(project=stack.project_id, database=database_of("data_services"))
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = db.collection(f"{prefix}data_services_catalogue")
    return len(list(catalogue.where(filter=FieldFilter("data_source", "==", source)).stream()))


def test_an_expert_reviews_excludes_and_approves_then_the_delivery_holds_one_image_less(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch("data-services-events")
    base = api_url(stack)
    token = uuid.uuid4().hex[:8]
    code, source, client_code = f"EXP-{token}", f"center-{token}", f"c{token}"
    operator = login(stack, register(Role.OPERATOR, ""))
    expert = login(stack, register(Role.EXPERT, code))

    # 1. The operator registers the expert through /v1.
    body = {
        "expert_code": code, "first_names": "Ana", "last_names": "Ruiz",
        "username": f"u{token}", "national_id": f"CC{token}", "email": f"{token}@example.org",
        "specialities": ["CHEST"], "capacity": 2,
    }  # fmt: skip
    applied(base, operator, requests.post(f"{base}/v1/experts", json=body, headers=operator,
                                          timeout=30))  # fmt: skip
    listed = requests.get(f"{base}/v1/experts/{code}", headers=operator, timeout=30)
    assert listed.status_code == 200 and listed.json()["status"] == "active"
    assert "example.org" not in listed.text and "Ruiz" not in listed.text

    # 2. A service whose review is required, assigned to the expert, its dataset prepared.
    _catalogue(stack, source)
    functions = stack.functions_url
    subscription = http.post(
        f"{functions}/subscriptions_commands_http/subscriptions",
        json={"client": {**SAMPLE_CLIENT, "code": client_code}, "plan": "PRO"},
        timeout=30,
    ).json()
    doors = f"{functions}/data_services_commands_http"
    create = {
        "subscription_id": subscription["subscription_id"],
        "client_code": client_code,
        "plan": {"code": "PRO"},
        "cloud": {"code": "links", "type": "links"},
        "dataset": {"code": "review", "criteria": {"sources": [source]}},
        "speciality": "CHEST",
        "expert_code": code,
        "review_required": True,
    }

    def created() -> Any:
        answer = http.post(f"{doors}/data-services", json=create, timeout=30)
        return answer if answer.status_code == 202 else None  # the subscription projected

    answer = eventually(created)
    assert answer, "the data service was not accepted"
    service_id = answer.json()["subject"]
    queries = f"{functions}/data_services_queries_http"

    def service() -> dict[str, Any]:
        found: dict[str, Any] = http.get(f"{queries}/data-services/{service_id}", timeout=30).json()
        return found

    assert eventually(lambda: service().get("expert_code") == code)

    assert eventually(lambda: _projected(stack, source) == IMAGES), "catalogue not projected"
    http.post(f"{doors}/data-services/{service_id}/dataset", json={}, timeout=30)
    assert eventually(lambda: (service().get("manifest") or {}).get("images") == IMAGES)
    http.post(f"{doors}/data-services/{service_id}/start", json={}, timeout=30)
    assert eventually(lambda: service().get("start_requested_at"))
    assert service()["status"] == "EXPERT_ASSIGNED"  # held for the review

    # 3. The expert lists, reads the dataset, previews an image.
    mine = requests.get(f"{base}/v1/assignments", headers=expert, timeout=30).json()
    assert service_id in [s["data_service_id"] for s in mine["items"]]
    assignment = requests.get(f"{base}/v1/assignments/{service_id}", headers=expert, timeout=30)
    assert assignment.status_code == 200, assignment.text
    entries = assignment.json()["review"]["entries"]
    assert len(entries) == IMAGES
    preview = requests.get(f"{base}{entries[0]['preview']}", headers=expert, timeout=30)
    assert preview.status_code == 200, preview.text
    assert preview.content.startswith(PNG_SIGNATURE)
    assert max(Image.open(io.BytesIO(preview.content)).size) <= 512
    stranger = login(stack, register(Role.EXPERT, f"EXP-{uuid.uuid4().hex[:8]}"))
    theirs = requests.get(f"{base}/v1/assignments/{service_id}", headers=stranger, timeout=30)
    assert theirs.status_code == 404

    # 4. One image excluded, then the approval: the held delivery starts, one image less.
    excluded = {"image_ids": [entries[0]["image_id"]], "reason": "artifact"}
    applied(base, expert, requests.post(f"{base}/v1/assignments/{service_id}/exclusions",
                                        json=excluded, headers=expert, timeout=30))  # fmt: skip
    applied(base, expert, requests.post(f"{base}/v1/assignments/{service_id}/approve",
                                        json={}, headers=expert, timeout=30))  # fmt: skip
    found = events.wait_for(
        lambda seen: any(e.type == DELIVERED and e.subject == service_id for e in seen), 45
    )
    delivered = next(e.payload for e in found if e.type == DELIVERED and e.subject == service_id)
    assert delivered.objects == IMAGES - 1  # type: ignore[attr-defined]
    started = next(e.payload for e in found if e.type == STARTED and e.subject == service_id)
    assert started.images == IMAGES - 1  # type: ignore[attr-defined]
