"""The channel port: one adapter per way of reaching a recipient (adapters/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.notifications.domain import Outcome
from functions.notifications.messages import ChannelPreference, Fact


@dataclass(frozen=True)
class Outgoing:
    """One notification, rendered, on its way to one channel of its recipient."""

    notification_id: str  # the id a receiver deduplicates on (Message-ID, webhook-id)
    recipient_id: str
    template: str
    subject: str
    text: str
    facts: dict[str, Fact]
    cause_event_id: str
    cause_event_type: str
    created_at: str
    confirm_url: str


class Channel(Protocol):
    def send(self, outgoing: Outgoing, preference: ChannelPreference) -> Outcome:
        """Deliver once; answer what happened (never raise for a refusal or an outage)."""
