"""What our own push subscriptions POST in the cloud is what the functions accept.

No Eventarc trigger sits in front of the event functions (pubsub.tf): Pub/Sub POSTs its raw
push body to `<function URL>/projects/<p>/topics/<topic>`, and the entry point reads it as
the `messagePublished` CloudEvent (shared/entrypoints/pushed.py), with or without
`message.data`. A GCS trigger is the bucket's notification, pushed the same way: configured
without payload, its message has attributes only and no `data` field at all, which
functions-framework's own conversion answers with a 400 (every upload would have died).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import functions_framework

from functions.bootstrap import InMemoryPlatform
from functions.ingestion.messages import ImageAnonymized
from infra.local.topology import load_topology
from tests.support.cloud_events import pushed
from tests.unit.deploy.terraform_files import REPO_ROOT
from tests.unit.ingestion.helpers import study

TOPOLOGY = load_topology()
# functions-framework has no type hints; this is the one place that says what it returns.
create_app: Callable[[str, str], Any] = functions_framework.create_app


# What Pub/Sub push takes as an acknowledgement; anything else is redelivered.
ACKNOWLEDGED = {102, 200, 201, 202, 204}


def push(target: str, topic: str, data: bytes | None, attributes: dict[str, str]) -> Any:
    """POST the body Pub/Sub pushes, to the path our subscription pushes to; `data=None` is a
    message without data, whose push body has no `data` field."""
    body = pushed(data, attributes, "pushed-1", topic)
    client = create_app(target, str(REPO_ROOT / "main.py")).test_client()
    return client.post(f"/projects/p/topics/{topic}", json=body)


def target_taking(topic: str, attributes: dict[str, str]) -> str:
    [target] = [
        s.target
        for s in TOPOLOGY.trigger_subscriptions()
        if s.topic == topic
        and (s.policy.attribute_filter is None or s.policy.attribute_filter.matches(attributes))
    ]
    return target


def test_a_pushed_command_is_handled(platform: InMemoryPlatform) -> None:
    http = [n for n, f in TOPOLOGY.functions.items() if f.target == "subscriptions_commands_http"]
    assert http, "the subscriptions command door is the source of this test's command"
    client = create_app("subscriptions_commands_http", str(REPO_ROOT / "main.py")).test_client()
    client.post(
        "/subscriptions",
        json={
            "plan": "PRO",
            "client": {
                "code": "0001",
                "first_names": "Ana",
                "last_names": "Rojas",
                "username": "arojas",
                "rut": "7654321-6",
                "national_id": "98765432",
                "email": "arojas@example.com",
            },
        },
    )
    [command] = platform.publisher.messages("subscriptions-commands")
    data, attributes = command.to_pubsub(platform.sealer)
    target = target_taking("subscriptions-commands", attributes)

    response = push(target, "subscriptions-commands", data, attributes)

    assert response.status_code in ACKNOWLEDGED
    events = platform.publisher.messages("subscriptions-events")
    assert [e.causation_id for e in events] == [command.id]


def test_a_pushed_bucket_notification_is_ingested(platform: InMemoryPlatform) -> None:
    [gcs] = [s for s in TOPOLOGY.trigger_subscriptions() if s.kind == "gcs"]
    bucket = platform.settings.bucket(gcs.bucket or "")
    [data] = study()
    info = platform.blobs.write(
        bucket, "center-1/scan.dcm", data, create_only=False, content_type="application/dicom"
    )
    resource = {
        "bucket": bucket,
        "name": "center-1/scan.dcm",
        "generation": str(info.generation),
        "size": str(len(data)),
        "contentType": "application/dicom",
    }
    attributes = {
        "eventType": "OBJECT_FINALIZE",
        "bucketId": bucket,
        "objectId": "center-1/scan.dcm",
        "objectGeneration": str(info.generation),
        "payloadFormat": "JSON_API_V1",
    }

    response = push(gcs.target, gcs.topic, json.dumps(resource).encode(), attributes)

    assert response.status_code in ACKNOWLEDGED
    [event] = platform.publisher.messages("ingestion-events")
    assert event.type == "co.saludtech.ingestion.image.anonymized.v1"


def test_other_bucket_notifications_are_acknowledged_and_ignored(
    platform: InMemoryPlatform,
) -> None:
    [gcs] = [s for s in TOPOLOGY.trigger_subscriptions() if s.kind == "gcs"]
    response = push(gcs.target, gcs.topic, b"{}", {"eventType": "OBJECT_DELETE"})
    assert response.status_code in ACKNOWLEDGED
    assert platform.publisher.messages("ingestion-events") == []


def _notified(platform: InMemoryPlatform, name: str, metadata: dict[str, str]) -> tuple[Any, Any]:
    [gcs] = [s for s in TOPOLOGY.trigger_subscriptions() if s.kind == "gcs"]
    bucket = platform.settings.bucket(gcs.bucket or "")
    [data] = study(seed=77)
    info = platform.blobs.write(
        bucket, name, data, create_only=False, content_type="application/dicom", metadata=metadata
    )
    return gcs, {
        "eventType": "OBJECT_FINALIZE",
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": str(info.generation),
        "payloadFormat": "NONE",
    }


def test_a_notification_without_payload_is_ingested_from_the_object_itself(
    platform: InMemoryPlatform,
) -> None:
    """Terraform sets payload_format = NONE, so the object's metadata (clinical history) never
    travels on the topic: the function reads size, type and metadata from the object."""
    gcs, attributes = _notified(
        platform, "center-1/scan.dcm", {"anatomical_region": "knee", "clinical_history": "x"}
    )

    response = push(gcs.target, gcs.topic, None, attributes)

    assert response.status_code in ACKNOWLEDGED
    [event] = platform.publisher.messages("ingestion-events")
    assert event.type == "co.saludtech.ingestion.image.anonymized.v1"
    assert isinstance(event.payload, ImageAnonymized)
    assert event.payload.anatomical_region == "KNEE"  # from the object metadata, normalised


def test_a_notification_of_a_replaced_generation_ingests_nothing(
    platform: InMemoryPlatform,
) -> None:
    gcs, attributes = _notified(platform, "center-1/scan.dcm", {})
    platform.blobs.write(
        attributes["bucketId"], "center-1/scan.dcm", b"newer", create_only=False
    )  # its own notification follows

    response = push(gcs.target, gcs.topic, None, attributes)

    assert response.status_code in ACKNOWLEDGED
    assert platform.publisher.messages("ingestion-events") == []


def test_a_message_without_data_reaches_a_dead_letter_recorder(platform: InMemoryPlatform) -> None:
    """A bucket notification that died is dead-lettered as it was: attributes only. Its
    recorder must keep it (functions-framework's conversion refused it with a 400)."""
    attributes = {
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "NONE",
        "CloudPubSubDeadLetterSourceDeliveryCount": "10",
    }
    response = push("ingestion_record_dead_letter", "ingestion-dead-letter", None, attributes)

    assert response.status_code in ACKNOWLEDGED
    dead = platform.store.query(platform.settings.collection("dead_letters"), limit=5).items
    assert [d["delivery_attempts"] for _, d in dead] == [10]


def test_a_body_that_is_no_push_nor_cloud_event_is_refused_with_a_reason() -> None:
    client = create_app("ingestion_on_upload", str(REPO_ROOT / "main.py")).test_client()
    response = client.post("/", json={"patient": "DOE^JANE"})
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "not_an_event"
    assert "DOE" not in response.get_data(as_text=True)
