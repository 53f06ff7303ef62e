"""The local bucket notification is the cloud's: no payload (terraform's google_storage_
notification has payload_format = "NONE"), so an upload's custom metadata, the clinical
history, never travels on the `gcs-ingest-notifications` topic; the object is still ingested
(the function reads the metadata from the object itself)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import TopicWatcher, originals_left
from tests.unit.ingestion.helpers import study

pytestmark = pytest.mark.emulators
TOPIC = "gcs-ingest-notifications"
EVENTS = "ingestion-events"
SECRET = f"smoker-since-{uuid.uuid4().hex[:8]}"


def test_a_notification_carries_no_object_metadata(stack: Any) -> None:
    from google.cloud import storage  # type: ignore[attr-defined]

    notifications = TopicWatcher(stack.project_id, TOPIC)
    events = TopicWatcher(stack.project_id, EVENTS)
    try:
        center = f"center-{uuid.uuid4().hex[:8]}"
        [data] = study(seed=5)
        client = storage.Client(project=stack.project_id)
        blob = client.bucket(stack.bucket("ingest")).blob(f"{center}/scan.dcm")
        blob.metadata = {"clinical_history": SECRET, "pathology": "nodule"}
        blob.upload_from_string(data, content_type="application/dicom")

        def mine(raw: list[tuple[bytes, dict[str, str]]]) -> list[tuple[bytes, dict[str, str]]]:
            return [(d, a) for d, a in raw if a.get("objectId") == blob.name]

        for _ in range(30):
            notifications.pull()
            if mine(notifications.raw):
                break
        [(payload, attributes)] = mine(notifications.raw)
        assert payload == b""
        assert attributes["payloadFormat"] == "NONE"
        assert attributes["bucketId"] == stack.bucket("ingest")
        assert attributes["eventType"] == "OBJECT_FINALIZE"
        assert int(attributes["objectGeneration"]) == int(blob.generation)
        for message in notifications.raw:
            assert SECRET not in repr(message)
            assert "clinical_history" not in json.dumps(message[1])

        # Still ingested: the original leaves the ingest bucket once it is catalogued.
        assert originals_left(client, stack.bucket("ingest"), f"{center}/", timeout=60) == []
        found = events.wait_for(
            lambda f: any(e.payload.model_dump().get("data_source") == center for e in f), 60
        )
        assert any(e.payload.model_dump().get("data_source") == center for e in found)
        assert all(SECRET not in repr(raw) for raw in events.raw)
    finally:
        notifications.close()
        events.close()
