"""Recipients and how they want to be reached: data in a collection, not code.

A recipient id is `client-<client code>`, `center-<center id>` or `expert-<code>`. Its
channels are set by the SetRecipientChannels command; a client's email is also learned from
its SubscriptionCreated event, an expert's from the expert registry, and a center's from its
account in the identity context (its default channel), unless channels were set for it by
command, which always win.
The addresses here are the only copy of a client's contact in this context: events and
logs name the recipient id only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from functions.data_services.messages import ExpertAssigned
from functions.notifications.messages import ChannelPreference
from shared.domain.clock import Clock, rfc3339
from shared.logging import get_logger
from shared.ports.documents import Document, DocumentStore, DocumentTransaction
from shared.ports.doors import Doors
from shared.ports.envelope import Envelope
from shared.service.processing import MessageProcessor

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


# -- experts' and centers' addresses: asked of the context that holds them ----------------
log = get_logger(__name__)
# The doors that answer a contact, to this context only (infra/topology.yaml
# cloud.access.notifications.invokes): the expert registry's, and identity's for centers.
EXPERT_CONTACTS_DOOR = "data_services_contacts_http"
CENTER_CONTACTS_DOOR = "identity_contacts_http"


def expert_recipient(expert_code: str) -> str:
    return f"expert-{expert_code}"  # rules.expert


def center_recipient(center_id: str) -> str:
    return f"center-{center_id}"  # rules.center


@dataclass
class _Contacts:
    """An address asked of the context that holds it before the event that needs it is
    processed, and learned as a client's is from its SubscriptionCreated: unless channels
    were set for the recipient by command, which always win. The lookup is outside any
    transaction; the notification is then created by the processor (handlers.notify), once
    per event: a duplicate sends nothing. A DoorUnavailable is retried (the event is
    redelivered)."""

    doors: Doors
    store: DocumentStore
    collection: str
    processor: MessageProcessor[Any, Any]
    clock: Clock

    def _learn(self, recipient_id: str, door: str, path: str) -> None:
        known = self.store.get(self.collection, recipient_id)
        if known is not None and known.get("managed"):
            return  # set by command: nothing to ask
        answer = self.doors.call(door, "GET", path)
        body = answer.body if answer.ok and isinstance(answer.body, dict) else None
        if body is None or body.get("retired"):
            # Unknown (404) or retired: no address; the notification fails `no_channel`.
            log.warning("contact_unknown", recipient_id=recipient_id, status=answer.status)
            return
        address = str(body.get("email") or "")
        if "@" not in address:
            return
        now = self.clock()
        self.store.run_in_transaction(
            lambda tx: RecipientDirectory(tx, self.collection).learn_email(
                recipient_id, address, now
            )
        )


@dataclass
class ExpertContacts(_Contacts):
    """An expert's email, from the registry, before the ExpertAssigned that names it."""

    def on_expert_assigned(self, envelope: Envelope) -> str:
        event = envelope.payload
        assert isinstance(event, ExpertAssigned)
        self.learn(event.expert_code)
        return self.processor.process(envelope).outcome

    def learn(self, expert_code: str) -> None:
        path = f"/experts/{quote(expert_code, safe='')}/contact"
        self._learn(expert_recipient(expert_code), EXPERT_CONTACTS_DOOR, path)


@dataclass
class CenterContacts(_Contacts):
    """A center's email, its account's in identity, before an ingestion event for the center
    (StudyIngested, ImageRejected): asked on every such event, so an address changed in
    identity is followed."""

    def on_center_event(self, envelope: Envelope) -> str:
        center_id = str(getattr(envelope.payload, "data_source", "") or "")
        if center_id:
            self.learn(center_id)
        return self.processor.process(envelope).outcome

    def learn(self, center_id: str) -> None:
        path = f"/centers/{quote(center_id, safe='')}/contact"
        self._learn(center_recipient(center_id), CENTER_CONTACTS_DOOR, path)
