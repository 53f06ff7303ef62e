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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

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
    """Pull every tap subscription until `stop` is set; on_event is called per event."""
    # Imported here: the CLI's other commands do not pay for gRPC.
    from google.cloud import pubsub_v1  # type: ignore[attr-defined,unused-ignore]

    from infra.local.subscription_leases import Lease, LeaseKeeper

    started = datetime.now(UTC)
    subscriber = pubsub_v1.SubscriberClient()
    lock = threading.Lock()  # one event printed at a time

    def handler_for(topic: str) -> Callable[[Lease], None]:
        def handle(lease: Lease) -> None:
            message = lease.message
            if include_backlog or message.publish_time >= started:
                with lock:
                    on_event(decode_event(topic, message.data, message.attributes))
            lease.ack()

        return handle

    # Unary pulls, like the bridge: a streaming pull left behind by an earlier `tail` would
    # keep taking a share of the events in the emulator (see subscription_leases.py).
    keepers = [
        LeaseKeeper(
            subscriber,
            subscriber.subscription_path(project, tap_subscription_name(topic)),
            ack_deadline_seconds=10,
            max_outstanding=100,
            on_message=handler_for(topic),
        )
        for topic in topics
    ]
    for keeper in keepers:
        keeper.start()
    try:
        stop.wait()
    finally:
        # Each stop waits for its pending Pull to return: wait for all of them at once.
        with ThreadPoolExecutor(max(1, len(keepers))) as pool:
            list(pool.map(LeaseKeeper.stop, keepers))
