"""Prints the integration events published on the `*-events` topics as they happen.

The stack creates a tap subscription (`tap-<topic>`) on every events topic at start, so
nothing published while `tail` is not running is lost; by default `tail` skips what was
published before it started. Our events are CloudEvents in Pub/Sub's binary binding (ce-*
attributes, JSON data); a structured-mode message (application/cloudevents+json) is read
too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.local.topology import tap_subscription_name


@dataclass(frozen=True)
class TappedEvent:
    topic: str
    type: str
    subject: str
    id: str
    source: str
    time: str
    data: object


def decode_event(topic: str, data: bytes, attributes: Mapping[str, str]) -> TappedEvent:
    if attributes.get("content-type", "").startswith("application/cloudevents+json"):
        try:
            structured = json.loads(data)
        except ValueError:
            structured = {}
        if isinstance(structured, dict):
            return TappedEvent(
                topic=topic,
                type=str(structured.get("type", "")),
                subject=str(structured.get("subject", "")),
                id=str(structured.get("id", "")),
                source=str(structured.get("source", "")),
                time=str(structured.get("time", "")),
                data=structured.get("data"),
            )
    payload: object
    try:
        payload = json.loads(data) if data else None
    except ValueError:
        payload = data.decode("utf-8", errors="replace")
    return TappedEvent(
        topic=topic,
        type=attributes.get("ce-type", "(not a CloudEvent)"),
        subject=attributes.get("ce-subject", ""),
        id=attributes.get("ce-id", ""),
        source=attributes.get("ce-source", ""),
        time=attributes.get("ce-time", ""),
        data=payload,
    )


def tail_events(
    project: str,
    topics: list[str],
    on_event: Callable[[TappedEvent], None],
    stop: threading.Event,
    include_backlog: bool = False,
) -> None:
    """Stream every tap subscription until `stop` is set; on_event is called per event."""
    from google.cloud import pubsub_v1  # the CLI's other commands do not pay for gRPC

    started = datetime.now(UTC)
    subscriber = pubsub_v1.SubscriberClient()
    lock = threading.Lock()  # one event printed at a time

    def callback_for(topic: str) -> Callable[[Any], None]:
        def callback(message: Any) -> None:
            message.ack()
            if not include_backlog and message.publish_time < started:
                return
            with lock:
                on_event(decode_event(topic, bytes(message.data), dict(message.attributes)))

        return callback

    streams = [
        subscriber.subscribe(
            subscriber.subscription_path(project, tap_subscription_name(topic)),
            callback=callback_for(topic),
        )
        for topic in topics
    ]
    try:
        stop.wait()
    finally:
        for stream in streams:
            stream.cancel()
        subscriber.close()
