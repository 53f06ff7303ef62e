"""Recipients and how they want to be reached: data in a collection, not code.

A recipient id is `client-<client code>` or `center-<center id>`. Its channels are set by
the SetRecipientChannels command; a client's email is also learned from its
SubscriptionCreated event, unless channels were set for it by command, which always win.
The addresses here are the only copy of a client's contact in this context: events and
logs name the recipient id only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from functions.notifications.messages import ChannelPreference
from shared.domain.clock import rfc3339
from shared.ports.documents import Document, DocumentTransaction

COLLECTION = "notifications_recipients"


@dataclass(frozen=True)
class Recipient:
    recipient_id: str
    channels: tuple[ChannelPreference, ...]
    managed: bool  # set by command: learned contacts never overwrite it

    def channels_for(self, template: str) -> list[ChannelPreference]:
        """Every channel that takes this template (at most one of each kind)."""
        return [c for c in self.channels if c.templates is None or template in c.templates]

    def channel(self, kind: str, template: str) -> ChannelPreference | None:
        """Where a notification of this kind and template goes now (preferences may have
        changed since it was created)."""
        return next((c for c in self.channels_for(template) if c.channel == kind), None)

    @classmethod
    def from_document(cls, document: Document) -> Recipient:
        return cls(
            recipient_id=document["recipient_id"],
            channels=tuple(ChannelPreference(**c) for c in document.get("channels", [])),
            managed=bool(document.get("managed")),
        )


class RecipientDirectory:
    """The recipients collection inside one transaction."""

    def __init__(self, tx: DocumentTransaction, collection: str) -> None:
        self._tx = tx
        self._collection = collection

    def get(self, recipient_id: str) -> Recipient | None:
        document = self._tx.get(self._collection, recipient_id)
        return Recipient.from_document(document) if document else None

    def set(self, recipient_id: str, channels: list[ChannelPreference], at: datetime) -> None:
        self._put(recipient_id, channels, managed=True, at=at)

    def learn_email(self, recipient_id: str, address: str, at: datetime) -> Recipient:
        """The recipient as it is after learning its address."""
        known = self.get(recipient_id)
        if known is not None and known.managed:
            return known
        channels = [ChannelPreference(channel="email", address=address)]
        self._put(recipient_id, channels, False, at)
        return Recipient(recipient_id, tuple(channels), managed=False)

    def learn_configured(
        self, recipient_id: str, channels: tuple[ChannelPreference, ...], at: datetime
    ) -> Recipient | None:
        """A recipient whose channels come from configuration (the operator): written here
        so the delivery finds them, unless they were set by command."""
        known = self.get(recipient_id)
        if known is not None and known.managed:
            return known
        if not channels:
            return None
        if known is None or known.channels != channels:
            self._put(recipient_id, list(channels), False, at)
        return Recipient(recipient_id, channels, managed=False)

    def remember(self, key: str, subject: str, recipient_id: str, at: datetime) -> None:
        """Remember who `subject` belongs to (e.g. a data service's client)."""
        self._tx.put(
            self._collection, f"{key}:{subject}", {"owner": recipient_id, "updated_at": rfc3339(at)}
        )

    def recall(self, key: str, subject: str) -> str | None:
        found = self._tx.get(self._collection, f"{key}:{subject}")
        return str(found["owner"]) if found else None

    def _put(
        self, recipient_id: str, channels: list[ChannelPreference], managed: bool, at: datetime
    ) -> None:
        self._tx.put(
            self._collection,
            recipient_id,
            {
                "recipient_id": recipient_id,
                "channels": [c.model_dump() for c in channels],
                "managed": managed,
                "updated_at": rfc3339(at),
            },
        )
