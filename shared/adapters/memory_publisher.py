"""In-memory EventPublisher for unit tests.

Each envelope goes through the Pub/Sub binding and back, so a unit test validates the
payload at both ends exactly as the real transport would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from shared.ports.envelope import Envelope


class InMemoryPublisher:
    def __init__(self) -> None:
        self._topics: dict[str, list[Envelope]] = defaultdict(list)
        self.raw: dict[str, list[tuple[bytes, dict[str, str]]]] = defaultdict(list)

    def publish(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            data, attributes = envelope.to_pubsub()
            self._topics[topic].append(Envelope.from_pubsub(data, attributes))

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        self.raw[topic].append((data, dict(attributes)))

    def messages(self, topic: str) -> list[Envelope]:
        return list(self._topics[topic])

    def types(self, topic: str) -> list[str]:
        return [e.type for e in self._topics[topic]]

    def clear_topic(self, topic: str) -> None:
        self._topics[topic].clear()

    def clear(self) -> None:
        self._topics.clear()
        self.raw.clear()
