"""Ingestion under duplicated and reordered deliveries, and across a crash of the functions."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

import functions.ingestion.messages  # noqa: F401 - registers the types the watcher reads
from infra.local.processes import group_members
from tests.conftest import ChaosSwitch
from tests.e2e.conftest import TopicWatcher, originals_left
from tests.e2e.test_ingestion_flow import ANONYMIZED, EVENTS, STUDY, of_center, storage
from tests.unit.ingestion.helpers import study, zipped

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
TRIGGERS = ["trigger-ingestion-on-upload", "trigger-ingestion-ingest-package-entry"]


def catalogue(http: requests.Session, stack: Any, center: str) -> list[dict[str, Any]]:
    page = http.get(
        f"{stack.functions_url}/ingestion_queries_http/images",
        params={"center": center, "limit": "100"}, timeout=10,
    )  # fmt: skip
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_chaos_gives_exactly_one_record_and_event_per_image(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher], chaos: ChaosSwitch
) -> None:
    events = watch(EVENTS)
    chaos.set(
        stack, duplicate_rate=0.5, reorder_window=8, reorder_max_wait_seconds=0.2, seed=5,
        subscriptions=TRIGGERS,
    )  # fmt: skip
    center = f"center-{uuid.uuid4().hex[:8]}"
    bucket = storage(stack).bucket(stack.bucket("ingest"))
    singles = study(12, seed=31)
    for n, data in enumerate(singles):
        bucket.blob(f"{center}/single-{n}.dcm").upload_from_string(data)
    bucket.blob(f"{center}/study.zip").upload_from_string(
        zipped({f"{n}.dcm": data for n, data in enumerate(study(8, seed=32))})
    )

    mine = of_center(center)

    def complete(found: list[Any]) -> bool:
        distinct = {e.id: e for e in found if mine(e)}.values()
        return len(distinct) == 12 + 8 + 1

    seen = events.wait_for(complete, 120)
    distinct = {e.id: e for e in seen if mine(e)}.values()
    assert sorted(e.type for e in distinct) == sorted([ANONYMIZED] * 20 + [STUDY])
    assert len({e.subject for e in distinct if e.type == ANONYMIZED}) == 20
    assert len(catalogue(http, stack, center)) == 20
    stats = http.get(f"{stack.bridge_url}/stats", timeout=10).json()
    assert sum(stats[name]["duplicates_injected"] for name in TRIGGERS) > 0


def test_functions_crashing_mid_package_recover_on_redelivery(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch(EVENTS)
    center = f"center-{uuid.uuid4().hex[:8]}"
    count = 24
    bucket = storage(stack).bucket(stack.bucket("ingest"))
    bucket.blob(f"{center}/study.zip").upload_from_string(
        zipped({f"{n}.dcm": data for n, data in enumerate(study(count, seed=41))})
    )
    mine = of_center(center)
    # Kill the functions host as soon as the first images are done: the rest are mid-way.
    events.wait_for(lambda f: any(mine(e) for e in f), 60)
    host = stack.processes["functions"]
    os.killpg(host.pgid, signal.SIGKILL)
    while group_members(host.pgid):
        time.sleep(0.02)
    stack.restart("functions")

    seen = events.wait_for(lambda f: any(e.type == STUDY and mine(e) for e in f), 120)
    distinct = {e.id: e for e in seen if mine(e)}.values()
    assert sorted(e.type for e in distinct) == sorted([ANONYMIZED] * count + [STUDY])
    assert len(catalogue(http, stack, center)) == count
    assert originals_left(storage(stack), stack.bucket("ingest"), f"{center}/") == []


def test_the_same_object_notified_again_gives_the_same_record_and_event(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    events = watch(EVENTS)
    center = f"center-{uuid.uuid4().hex[:8]}"
    blob = storage(stack).bucket(stack.bucket("ingest")).blob(f"{center}/scan.dcm")
    [data] = study(seed=51)
    blob.upload_from_string(data)
    mine = of_center(center)
    events.wait_for(lambda f: any(mine(e) for e in f), 60)

    # Cloud Storage may notify the same generation again: new message ids, same object.
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(stack.project_id, "gcs-ingest-notifications")
    resource = {"bucket": blob.bucket.name, "name": blob.name, "generation": str(blob.generation),
                "size": str(len(data)), "contentType": "application/dicom"}  # fmt: skip
    for _ in range(2):
        publisher.publish(
            topic, json.dumps(resource).encode(), eventType="OBJECT_FINALIZE",
            bucketId=blob.bucket.name, objectId=blob.name,
        ).result(timeout=10)  # fmt: skip

    seen = [
        e for e in events.wait_for(lambda f: len([e for e in f if mine(e)]) >= 3, 60) if mine(e)
    ]
    assert len(seen) == 3 and len({e.id for e in seen}) == 1
    assert len(catalogue(http, stack, center)) == 1


def test_a_reupload_keeps_its_record_and_another_centers_copy_is_its_own_image(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher]
) -> None:
    events = watch(EVENTS)
    center, other = f"center-{uuid.uuid4().hex[:8]}", f"center-{uuid.uuid4().hex[:8]}"
    client = storage(stack)
    ingest = client.bucket(stack.bucket("ingest"))
    [data] = study(seed=61)
    first = ingest.blob(f"{center}/scan.dcm")
    first.metadata = {"pathology": "nodule", "clinical_history": "smoker"}
    first.upload_from_string(data)
    [image] = [e for e in events.wait_for(lambda f: any(map(of_center(center), f)), 60)
               if of_center(center)(e)]  # fmt: skip
    image_id = image.payload.model_dump()["image_id"]

    # The same file again, without metadata, then the same instance from another center.
    ingest.blob(f"{center}/scan-again.dcm").upload_from_string(data)
    assert originals_left(client, stack.bucket("ingest"), f"{center}/", timeout=60) == []
    ingest.blob(f"{other}/scan.dcm").upload_from_string(data)
    found = events.wait_for(lambda f: any(map(of_center(other), f)), 60)
    # A referral (ADR 0013): accepted as the other center's own image, under its own ids.
    [copy] = [e for e in found if of_center(other)(e)]
    assert copy.type == ANONYMIZED and copy.payload.model_dump()["image_id"] != image_id
    assert originals_left(client, stack.bucket("ingest"), f"{other}/") == []

    record = http.get(
        f"{stack.functions_url}/ingestion_queries_http/images/{image_id}", timeout=10
    ).json()
    assert record["data_source"] == center and record["pathology"] == "NODULE"
    assert record["has_clinical_history"] is True
    announced = {(e.id, e.type) for e in found if of_center(center)(e)}
    assert [kind for _, kind in announced] == [ANONYMIZED]  # once: the re-upload is a no-op
    stored = [b.name for b in client.list_blobs(stack.bucket("anonymized"))]
    assert [n for n in stored if n.endswith(f"/{image_id}.dcm")] == [record["uri"].split("/", 3)[3]]
