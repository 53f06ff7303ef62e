"""CloudEvents exactly as Eventarc hands them to a function, for tests that call one directly."""

from __future__ import annotations

import base64

from cloudevents.http import CloudEvent


def pubsub_event(
    data: bytes, attributes: dict[str, str], message_id: str = "m-1", topic: str = "t"
) -> CloudEvent:
    """A `google.cloud.pubsub.topic.v1.messagePublished` event wrapping one message."""
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": f"//pubsub.googleapis.com/projects/p/topics/{topic}",
            "id": message_id,
        },
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "attributes": attributes,
                "messageId": message_id,
            },
            "subscription": f"projects/p/subscriptions/trigger-{topic}",
        },
    )
