"""Every adapter of a port runs the same contract: in memory, and on the real emulators."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.ports.documents import DocumentStore
from shared.ports.envelope import Envelope


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulators)])
def store(request: pytest.FixtureRequest) -> DocumentStore:
    if request.param == "memory":
        from shared.adapters.memory_store import InMemoryDocumentStore

        return InMemoryDocumentStore()
    stack = request.getfixturevalue("stack")
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    return FirestoreDocumentStore(firestore.Client(project=stack.project_id))


@pytest.fixture
def collection() -> str:
    return f"contract_{uuid.uuid4().hex[:10]}"


class PublishedReader:
    """Publishes through an adapter and reads back what a subscriber would receive."""

    def __init__(
        self,
        publisher: Any,
        read: Callable[[str, int], list[tuple[bytes, dict[str, str]]]],
        prepare: Callable[[str], None],
    ) -> None:
        self.publisher, self.read, self.prepare = publisher, read, prepare

    def envelopes(self, topic: str, count: int) -> list[Envelope]:
        return [Envelope.from_pubsub(data, attrs) for data, attrs in self.read(topic, count)]


@pytest.fixture(params=["memory", pytest.param("pubsub", marks=pytest.mark.emulators)])
def published(request: pytest.FixtureRequest) -> Iterator[PublishedReader]:
    if request.param == "memory":
        from shared.adapters.memory_publisher import InMemoryPublisher

        memory = InMemoryPublisher()

        def read_memory(topic: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
            raw = list(memory.raw[topic])
            return raw + [e.to_pubsub() for e in memory.messages(topic)]

        yield PublishedReader(memory, read_memory, lambda topic: None)
        return

    stack = request.getfixturevalue("stack")
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    from shared.adapters.pubsub_publisher import PubSubPublisher

    project = stack.project_id
    publisher_client = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    made: list[str] = []

    def prepare(topic: str) -> None:
        publisher_client.create_topic(name=publisher_client.topic_path(project, topic))
        subscriber.create_subscription(
            name=subscriber.subscription_path(project, f"read-{topic}"),
            topic=publisher_client.topic_path(project, topic),
        )
        made.append(topic)

    def read_pubsub(topic: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
        path = subscriber.subscription_path(project, f"read-{topic}")
        received: list[tuple[bytes, dict[str, str]]] = []
        for _ in range(50):
            response = subscriber.pull(subscription=path, max_messages=100, timeout=5)
            for message in response.received_messages:
                received.append((message.message.data, dict(message.message.attributes)))
            if response.received_messages:
                subscriber.acknowledge(
                    subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
                )
            if len(received) >= count:
                break
        return received

    yield PublishedReader(PubSubPublisher(project), read_pubsub, prepare)
    for topic in made:
        subscriber.delete_subscription(
            subscription=subscriber.subscription_path(project, f"read-{topic}")
        )
        publisher_client.delete_topic(topic=publisher_client.topic_path(project, topic))
