"""In-memory EventPublisher for unit tests.

Each envelope goes through the Pub/Sub binding and back, so a unit test validates the
payload at both ends exactly as the real transport would, personal fields sealed on the
way and opened at the other end with the `sealer` the platform gives (`raw_sent` keeps what
went over the binding, for tests that look at the bytes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from shared.ports.envelope import Envelope
from shared.service.sealed_messages import NO_KEY, MessageSealer


class InMemoryPublisher:
    def __init__(self, sealer: MessageSealer = NO_KEY) -> None:
        self.sealer = sealer
        self._topics: dict[str, list[Envelope]] = defaultdict(list)
        self.raw: dict[str, list[tuple[bytes, dict[str, str]]]] = defaultdict(list)
        self.raw_sent: dict[str, list[tuple[bytes, dict[str, str]]]] = defaultdict(list)

    def publish(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            data, attributes = envelope.to_pubsub(self.sealer)
            self.raw_sent[topic].append((data, attributes))
            self._topics[topic].append(Envelope.from_pubsub(data, attributes, self.sealer))

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        self.raw[topic].append((data, dict(attributes)))

    def messages(self, topic: str) -> list[Envelope]:
        return list(self._topics[topic])

    def types(self, topic: str) -> list[str]:
        return [e.type for e in self._topics[topic]]

    def clear_topic(self, topic: str) -> None:
        self._topics[topic].clear()
        self.raw_sent[topic].clear()

    def clear(self) -> None:
        self._topics.clear()
        self.raw.clear()
        self.raw_sent.clear()
