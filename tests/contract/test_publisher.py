"""The EventPublisher contract, run in memory and against the Pub/Sub emulator."""

from __future__ import annotations

import uuid

from functions.subscriptions.messages import ChangePlan
from shared.ports.envelope import Envelope
from tests.contract.conftest import PublishedReader


def test_published_envelopes_arrive_whole(published: PublishedReader) -> None:
    topic = f"contract-{uuid.uuid4().hex[:8]}"
    published.prepare(topic)
    sent = [
        Envelope(
            payload=ChangePlan(subscription_id=f"s{i}", plan="PRO"),
            source="/t",
            correlation_id="corr",
            causation_id="cause",
        )
        for i in range(5)
    ]
    published.publisher.publish(topic, sent)
    received = published.envelopes(topic, 5)
    assert sorted(received, key=lambda e: e.id) == sorted(sent, key=lambda e: e.id)


def test_raw_messages_are_kept_as_they_are(published: PublishedReader) -> None:
    topic = f"contract-{uuid.uuid4().hex[:8]}"
    published.prepare(topic)
    published.publisher.publish_raw(topic, b"\x00not json", {"why": "schema_violation"})
    [(data, attributes)] = published.read(topic, 1)
    assert data == b"\x00not json" and attributes == {"why": "schema_violation"}
