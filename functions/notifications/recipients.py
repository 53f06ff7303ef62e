"""Recipients and how they want to be reached: data in a collection, not code.

A recipient id is `client-<client code>`, `center-<center id>` or `expert-<code>`. Its
channels are set by the SetRecipientChannels command; a client's email is also learned from
its SubscriptionCreated event, an expert's from the expert registry, and a center's from its
account in the identity context (its default channel), unless channels were set for it by
command, which always win.
A client's first address wins: any user of the client may create a subscription with any
email, so a later, different one is only a pending change, sealed in the recipient's
document until the current address confirms it (address_change.py).
A document is written only when what it says changes: a client's is read by every one of
its events, and rewriting it each time made their transactions collide.
The addresses here are the only copy of a client's contact in this context: events and
logs name the recipient id only. At rest each channel's address and webhook URL (a client's
endpoint, whose query string may carry a token) are sealed with the shared field cipher
(`<field>_sealed`), bound to the recipient id, the channel and the field's name; so is a
pending change's new address. They are opened only to send (delivery.py, address_change.py)
and to compare with what an event tells. A document written before is read as it is until
tools/seal_personal_fields.py seals it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from functions.data_services.messages import ExpertAssigned
from functions.notifications.messages import ChannelPreference
from shared.config import Settings
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError
from shared.logging import get_logger
from shared.ports.documents import Document, DocumentStore, DocumentTransaction
from shared.ports.doors import Doors
from shared.ports.envelope import Envelope
from shared.service.field_crypto import FieldCipher, FieldCipherError, SealedFields
from shared.service.processing import MessageProcessor

COLLECTION = "notifications_recipients"
PENDING = "pending_email"  # {change_id, address_sealed (the new address), requested_at}
APPLIED = "applied_change"  # the id of the last change confirmed (a second click)
# What a channel holds of its recipient's contact, sealed at rest.
CHANNEL_SEALED = ("address", "url")


def channel_fields(settings: Settings) -> SealedFields:
    return SealedFields(FieldCipher.from_settings(settings), CHANNEL_SEALED)


def _record(recipient_id: str, part: str) -> str:
    """What a sealed value is bound to: the recipient and its channel (or its pending
    change); SealedFields adds the field's name."""
    return f"{recipient_id}/{part}"


def stored_channels(
    fields: SealedFields, recipient_id: str, channels: Iterable[ChannelPreference]
) -> list[Document]:
    """The channels as the recipient's document keeps them: address and URL sealed."""
    return [
        fields.seal(
            _record(recipient_id, c.channel),
            {k: v for k, v in c.model_dump().items() if v is not None or k not in fields.names},
        )
        for c in channels
    ]


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

    @property
    def email(self) -> str | None:
        return next((c.address for c in self.channels if c.channel == "email"), None)

    @classmethod
    def from_document(cls, document: Document, fields: SealedFields) -> Recipient:
        """The recipient with its channels opened (sealed, or in clear when written
        before they were sealed)."""
        recipient_id = document["recipient_id"]
        return cls(
            recipient_id=recipient_id,
            channels=tuple(
                ChannelPreference(**fields.open(_record(recipient_id, c["channel"]), c))
                for c in document.get("channels", [])
            ),
            managed=bool(document.get("managed")),
        )


class RecipientDirectory:
    """The recipients collection inside one transaction."""

    def __init__(self, tx: DocumentTransaction, collection: str, fields: SealedFields) -> None:
        self._tx = tx
        self._collection = collection
        self._fields = fields

    def get(self, recipient_id: str) -> Recipient | None:
        document = self._tx.get(self._collection, recipient_id)
        return Recipient.from_document(document, self._fields) if document else None

    def set(self, recipient_id: str, channels: list[ChannelPreference], at: datetime) -> None:
        self._put(recipient_id, channels, managed=True, at=at)

    def learn_email(self, recipient_id: str, address: str, at: datetime) -> Recipient:
        """The recipient as it is after learning its address from the context that holds
        it (an expert's, a center's): followed when it changes there."""
        known = self.get(recipient_id)
        if known is not None and known.managed:
            return known
        channels = (ChannelPreference(channel="email", address=address),)
        if known is None or known.channels != channels:
            self._put(recipient_id, list(channels), False, at)
        return Recipient(recipient_id, channels, managed=False)

    def learn_client_email(
        self,
        recipient_id: str,
        address: str,
        change_id: str,
        at: datetime,
    ) -> tuple[Recipient, bool]:
        """The client as it is after its SubscriptionCreated named `address`, and whether
        that asked for a change of its address (to be confirmed by the current one)."""
        document = self._tx.get(self._collection, recipient_id)
        known = Recipient.from_document(document, self._fields) if document else None
        if known is not None and known.managed:
            return known, False  # set by command: nothing learned, no change asked
        current = known.email if known else None
        if known is None or document is None or not current:
            return self.learn_email(recipient_id, address, at), False  # the first one wins
        if current.casefold() == address.casefold():
            return known, False
        asked = self._pending(recipient_id, document.get(PENDING))
        if asked is not None and asked.casefold() == address.casefold():
            return known, False  # asked already: one mail is enough
        change = {
            "change_id": change_id,
            **self._fields.seal(_record(recipient_id, PENDING), {"address": address}),
            "requested_at": rfc3339(at),
        }
        # Written whole, so a document from before the channels were sealed is sealed too.
        written = self._document(recipient_id, list(known.channels), False, at)
        self._tx.put(self._collection, recipient_id, {**document, **written, PENDING: change})
        return known, True

    def pending_address(self, recipient_id: str, change_id: str) -> str | None:
        """The new address of the pending change `change_id`, while it is pending."""
        document = self._tx.get(self._collection, recipient_id) or {}
        pending = document.get(PENDING) or {}
        if document.get("managed") or pending.get("change_id") != change_id:
            return None
        return self._pending(recipient_id, pending)

    def _pending(self, recipient_id: str, pending: Document | None) -> str | None:
        """A pending change's new address, opened; None when there is none, or it does not
        open (sealed under another key: its link answers address_change_not_pending, and the
        client's next subscription with that address asks again)."""
        if not pending:
            return None
        try:
            opened = self._fields.open(_record(recipient_id, PENDING), pending)
        except FieldCipherError:
            return None
        address = opened.get("address")
        return str(address) if address else None

    def apply_address_change(self, recipient_id: str, change_id: str, at: datetime) -> bool:
        """Make the pending change `change_id` the client's address: True when it is done
        now, False when it was done before (the same link followed again)."""
        document = self._tx.get(self._collection, recipient_id)
        if document is not None and document.get(APPLIED) == change_id:
            return False
        address = self.pending_address(recipient_id, change_id)
        if document is None or address is None:
            raise PermanentError(
                "address_change_not_pending",
                "this change was replaced by a later one or withdrawn",
            )
        known = Recipient.from_document(document, self._fields)
        channels = [
            c.model_copy(update={"address": address}) if c.channel == "email" else c
            for c in known.channels
        ]
        self._tx.put(
            self._collection,
            recipient_id,
            {**self._document(recipient_id, channels, False, at), APPLIED: change_id},
        )
        return True

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
        """The whole document: a pending address change is dropped (an operator's channels
        or a changed address end it)."""
        self._tx.put(
            self._collection, recipient_id, self._document(recipient_id, channels, managed, at)
        )

    def _document(
        self, recipient_id: str, channels: list[ChannelPreference], managed: bool, at: datetime
    ) -> Document:
        return {
            "recipient_id": recipient_id,
            "channels": stored_channels(self._fields, recipient_id, channels),
            "managed": managed,
            "updated_at": rfc3339(at),
        }


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
    fields: SealedFields  # how the recipients' channels are sealed

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
            lambda tx: RecipientDirectory(tx, self.collection, self.fields).learn_email(
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
