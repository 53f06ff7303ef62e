"""A change of a client's notification address, confirmed by the current address.

Any user of a client may create a subscription with any email, so a SubscriptionCreated
that names another address than the client's does not redirect its notifications: it
records a pending change (recipients.RecipientDirectory.learn_client_email, the new address
sealed in the recipient's document) and creates an `address_change_requested` notification,
delivered like any other to the CURRENT address. Its mail carries a link of its own purpose
(confirmation.ConfirmationLinks, purpose "address-change": a notification's link is not one,
nor the other way round), signed, expiring, naming the recipient and the change; following
it on the public api (`/v1/notifications/address-change`, GET a page, POST applies) makes
the new address the client's, once. An operator's SetRecipientChannels always wins (and
drops a pending change); a managed recipient never gets one.

Events and log lines name the recipient id only: the new address is in the recipients
collection (sealed) and, masked, in the mail to the current address.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from functions.notifications.confirmation import ConfirmationLinks
from functions.notifications.domain import Outcome
from functions.notifications.messages import ChannelPreference
from functions.notifications.ports import Channel, Outgoing
from functions.notifications.recipients import RecipientDirectory
from shared.domain.clock import Clock
from shared.domain.errors import PermanentError
from shared.logging import get_logger
from shared.ports.documents import DocumentStore
from shared.service.field_crypto import SealedFields

log = get_logger(__name__)

TEMPLATE = "address_change_requested"
PURPOSE = "address-change"
_SEPARATOR = "/"  # recipient ids and change ids never hold it (documents.DOCUMENT_ID_PATTERN)


def link_subject(recipient_id: str, change_id: str) -> str:
    return f"{recipient_id}{_SEPARATOR}{change_id}"


def parse_subject(subject: str) -> tuple[str, str]:
    recipient_id, _, change_id = subject.partition(_SEPARATOR)
    if not recipient_id or not change_id:
        raise PermanentError("invalid_link", "this link is not one we sent")
    return recipient_id, change_id


def mask(address: str) -> str:
    """`j***@example.org`: the mail goes to the CURRENT address, whose reader may not be the
    one who gave the new address; enough to recognise one's own, not to learn someone
    else's (a mailbox on a shared or leaked account would otherwise collect addresses)."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


@dataclass(frozen=True)
class AddressChangeMail:
    """The email channel, for an `address_change_requested` notification: its text says
    which address (masked) and carries the address-change link instead of a notification's
    confirmation link; every other notification goes through as it is. The new address is
    read from the recipient's document when the mail is sent, never from the notification
    (whose facts are published)."""

    inner: Channel
    store: DocumentStore
    collection: str
    fields: SealedFields  # the recipients' (recipients.channel_fields)
    links: ConfirmationLinks
    clock: Clock

    def send(self, outgoing: Outgoing, preference: ChannelPreference) -> Outcome:
        if outgoing.template != TEMPLATE:
            return self.inner.send(outgoing, preference)
        recipient_id, change_id = outgoing.recipient_id, str(outgoing.facts.get("change_id"))
        address = self.store.run_in_transaction(
            lambda tx: RecipientDirectory(tx, self.collection, self.fields).pending_address(
                recipient_id, change_id
            )
        )
        if address is None:  # confirmed, replaced by a later change, or an operator's now
            return Outcome(False, "address_change_not_pending", permanent=True)
        url = self.links.url(link_subject(recipient_id, change_id), self.clock())
        text = (
            f"{outgoing.text}\n\nThe new address: {mask(address)}\n\n"
            f"To send our notifications there from now on, open this link:\n{url}\n\n"
            "If you did not ask for this, ignore this message: nothing changes.\n"
        )
        return self.inner.send(dataclasses.replace(outgoing, text=text, confirm_url=""), preference)


@dataclass(frozen=True)
class AddressChanges:
    """Applies a followed address-change link (the notifications door's /address-change)."""

    store: DocumentStore
    collection: str
    fields: SealedFields  # the recipients' (recipients.channel_fields)
    links: ConfirmationLinks
    clock: Clock

    def confirm(self, token: str) -> str:
        """The recipient whose address the link changed (now, or when it was followed
        before: a second click is answered the same). PermanentError invalid_link,
        link_expired, address_change_not_pending."""
        now = self.clock()
        recipient_id, change_id = parse_subject(self.links.verify(token, now))
        applied = self.store.run_in_transaction(
            lambda tx: RecipientDirectory(tx, self.collection, self.fields).apply_address_change(
                recipient_id, change_id, now
            )
        )
        if applied:
            log.info("recipient_address_changed", recipient_id=recipient_id)
        return recipient_id
