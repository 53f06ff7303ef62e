"""The publishing ports: envelopes to a topic, and raw bytes to a dead-letter topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.ports.envelope import Envelope


class EventPublisher(Protocol):
    def publish(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        """Publish every envelope or raise TransientError; returns once the broker has them."""


class RawPublisher(Protocol):
    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        """Publish bytes as they are: how an unreadable message is kept on a dead-letter topic."""


class Publisher(EventPublisher, RawPublisher, Protocol):
    """Both at once: what the platform's one publisher offers."""
