"""The CloudEvents Eventarc POSTs to a function, built from a pulled Pub/Sub message.

Binary HTTP mode, as Eventarc sends them: the context in ce-* headers, the data as the JSON
body. A Pub/Sub trigger gets `google.cloud.pubsub.topic.v1.messagePublished` whose data is
the push envelope {message, subscription}; a GCS trigger gets
`google.cloud.storage.object.v1.finalized` whose data is the object resource (read from
the object: the notification, as the cloud's, carries no payload; gcs_front.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote

import requests

PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"


@dataclass(frozen=True)
class PulledMessage:
    """The parts of a Pub/Sub message the bridge needs (decoupled from the client class)."""

    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    publish_time: datetime
    ordering_key: str = ""


@dataclass(frozen=True)
class EventDelivery:
    """One HTTP request to a function: same headers and body on every attempt."""

    event_id: str
    headers: Mapping[str, str]
    body: bytes


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def pubsub_published_event(
    message: PulledMessage, project: str, topic: str, subscription: str
) -> EventDelivery:
    published = rfc3339(message.publish_time)
    envelope: dict[str, object] = {
        "message": {
            "data": base64.b64encode(message.data).decode("ascii"),
            "attributes": dict(message.attributes),
            # Eventarc sends both spellings; handlers in the wild read either.
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": published,
            "publish_time": published,
            **({"orderingKey": message.ordering_key} if message.ordering_key else {}),
        },
        "subscription": f"projects/{project}/subscriptions/{subscription}",
    }
    headers = {
        "ce-id": message.message_id,
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "ce-type": PUBSUB_PUBLISHED,
        "ce-specversion": "1.0",
        "ce-time": published,
        "Content-Type": "application/json",
    }
    return EventDelivery(message.message_id, headers, json.dumps(envelope).encode())


def pubsub_push(
    message: PulledMessage, project: str, subscription: str, *, with_data: bool = True
) -> EventDelivery:
    """The body a Pub/Sub push subscription POSTs (the cloud mode's delivery): no
    CloudEvent headers, the message and the subscription as JSON."""
    pushed: dict[str, object] = {
        "attributes": dict(message.attributes),
        "messageId": message.message_id,
        "message_id": message.message_id,
        "publishTime": rfc3339(message.publish_time),
        "publish_time": rfc3339(message.publish_time),
        **({"orderingKey": message.ordering_key} if message.ordering_key else {}),
    }
    if with_data and message.data:
        pushed["data"] = base64.b64encode(message.data).decode("ascii")
    body = {"message": pushed, "subscription": f"projects/{project}/subscriptions/{subscription}"}
    headers = {"Content-Type": "application/json"}
    return EventDelivery(message.message_id, headers, json.dumps(body).encode())


def storage_notification_push(
    message: PulledMessage, project: str, subscription: str, bucket: str
) -> EventDelivery | None:
    """An OBJECT_FINALIZE notification on `bucket` as Terraform configures it:
    `payload_format = "NONE"`, attributes only (fake-gcs-server's object resource dropped)."""
    attributes = message.attributes
    if attributes.get("eventType") != "OBJECT_FINALIZE" or attributes.get("bucketId") != bucket:
        return None
    stripped = PulledMessage(
        message_id=message.message_id,
        data=b"",
        attributes={**attributes, "payloadFormat": "NONE"},
        publish_time=message.publish_time,
        ordering_key=message.ordering_key,
    )
    return pubsub_push(stripped, project, subscription, with_data=False)


def with_object_resource(message: PulledMessage, storage_url: str) -> PulledMessage | None:
    """A notification without payload (the cloud's, and the stack's: gcs_front.py relays
    fake-gcs-server's without it) with the object resource Eventarc delivers in its place,
    read from the object at the notified generation; None when that generation is gone
    (replaced or deleted: its successor has its own notification)."""
    attributes = message.attributes
    bucket, name = attributes.get("bucketId", ""), attributes.get("objectId", "")
    if not bucket or not name:
        return None
    answer = requests.get(
        f"{storage_url.rstrip('/')}/storage/v1/b/{quote(bucket, safe='')}/o/"
        f"{quote(name, safe='')}",
        params={"generation": attributes.get("objectGeneration", "")} if
        attributes.get("objectGeneration") else None,
        timeout=30,
    )  # fmt: skip
    if answer.status_code == 404:
        return None
    answer.raise_for_status()  # the bridge redelivers it later
    return replace(message, data=answer.content)


def storage_finalized_event(message: PulledMessage, bucket: str) -> EventDelivery | None:
    """The finalized event for an OBJECT_FINALIZE notification on `bucket`, else None."""
    attributes = message.attributes
    if attributes.get("eventType") != "OBJECT_FINALIZE" or attributes.get("bucketId") != bucket:
        return None
    try:
        resource = json.loads(message.data)
    except ValueError:
        return None
    name = str(resource.get("name") or attributes.get("objectId", ""))
    event_time = str(
        resource.get("updated") or attributes.get("eventTime") or rfc3339(message.publish_time)
    )
    headers = {
        "ce-id": message.message_id,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": STORAGE_FINALIZED,
        "ce-specversion": "1.0",
        "ce-subject": f"objects/{name}",
        "ce-time": event_time,
        "Content-Type": "application/json",
    }
    return EventDelivery(message.message_id, headers, message.data)
