"""How the notifications context is put together from the shared platform."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from functions.notifications import address_change
from functions.notifications.adapters.smtp_email import SmtpEmailChannel
from functions.notifications.adapters.webhook_guard import UrlRefused, WebhookGuard
from functions.notifications.adapters.webhooks import WebhookChannel
from functions.notifications.confirmation import ADDRESS_CHANGE_PATH, ConfirmationLinks
from functions.notifications.delivery import DeliveryService
from functions.notifications.domain import DEFAULT_LEASE, parse_schedule
from functions.notifications.handlers import HANDLERS, IN_PROCESS_HANDLERS, Dependencies
from functions.notifications.messages import (
    NAMES,
    ChannelPreference,
    ConfirmNotification,
    DeliverNotification,
)
from functions.notifications.projection import COLLECTION as VIEW
from functions.notifications.projection import NotificationsView
from functions.notifications.recipients import COLLECTION as RECIPIENTS
from functions.notifications.recipients import CenterContacts, ExpertContacts, channel_fields
from functions.notifications.rules import RULES
from functions.notifications.unit_of_work import NotificationsUnitOfWork, Storage
from shared.adapters.document_event_store import DocumentEventStore, EventStoreCollections
from shared.config import Settings
from shared.domain.errors import PermanentError
from shared.domain.messages import Event
from shared.platform import Platform
from shared.ports.envelope import Envelope
from shared.service.command_log import CommandLog
from shared.service.event_sourcing import ProjectionRunner
from shared.service.processing import MessageProcessor, processor_handlers

PROJECTION_POSITIONS = "notifications_projection_positions"
DELIVERIES = "notifications_deliveries"
# Shards of the global log. Appends of one shard share its counter document, and a burst of
# 16 concurrent deliveries over 16 shards kept colliding on the emulator (each conflict
# waits ~2 s, and 10 in a row fail the transaction). Every email is three appends (created,
# claimed, outcome), each in a transaction of one of the ~32 deliveries the bridge runs at
# once: over 128 shards one in four met another on its counter (110 lock timeouts in a
# burst of 100); over 512 about one in sixteen. On Firestore, 50 emails a second are 150
# counter writes a second: 0.3 a second per document over 512 shards, well under the
# one-a-second a document sustains (1.2 over 128). Streams keep the shard in their head,
# so raising it moves none; never lowered once events exist (a rebuild reads shards
# 0 .. LOG_SHARDS - 1: a query each).
LOG_SHARDS = 512


@dataclass(frozen=True)
class NotificationsWiring:
    platform: Platform
    storage: Storage
    processor: MessageProcessor[NotificationsUnitOfWork, Dependencies]
    delivery: DeliveryService
    links: ConfirmationLinks
    webhook_guard: WebhookGuard
    commands: CommandLog
    # An assigned expert's address, asked of the expert registry (recipients.py).
    contacts: ExpertContacts
    # A center's address, asked of the identity context (recipients.py).
    centers: CenterContacts
    # A client's new address, applied when its current one follows the link (address_change).
    address_changes: address_change.AddressChanges

    def projection_runner(self, collection: str | None = None) -> ProjectionRunner:
        """The read model from the global log (into `collection` to compare with the live one)."""
        return ProjectionRunner(
            store=self.platform.store,
            events=self.storage.events,
            projection=self.storage.view,
            positions_collection=self.platform.settings.collection(PROJECTION_POSITIONS),
            collection=collection,
        )


def _keys(settings: Settings) -> tuple[list[str], list[bytes]]:
    webhook = [
        k.strip() for k in settings.webhook_secrets.get_secret_value().split(",") if k.strip()
    ]
    confirm = [
        k.strip().encode()
        for k in settings.confirmation_keys.get_secret_value().split(",")
        if k.strip()
    ]
    if not webhook or not confirm:
        raise ValueError("SALUDTECH_WEBHOOK_SECRETS and SALUDTECH_CONFIRMATION_KEYS are needed")
    # The development defaults are public: in the cloud they would let anyone forge a
    # confirmation link or a webhook from us.
    development = Settings.model_fields["webhook_secrets"].default.get_secret_value()
    if settings.environment == "cloud" and (
        any(b"local-development" in k for k in confirm) or development in webhook
    ):
        raise ValueError("SALUDTECH_CONFIRMATION_KEYS and SALUDTECH_WEBHOOK_SECRETS must be set")
    return webhook, confirm


def webhook_guard(settings: Settings) -> WebhookGuard:
    """https only in the cloud; private addresses only where the setting allows them (the
    local stack's receivers; Settings refuses it in the cloud)."""
    return WebhookGuard(
        allow_http=settings.environment != "cloud",
        allow_private=settings.webhook_allow_private,
    )


def _refuse_as_permanent(guard: WebhookGuard, url: str) -> None:
    try:
        guard.check_literal(url)
    except UrlRefused as refused:
        raise PermanentError(refused.reason, "this webhook URL is refused", field="url") from None


def channels(
    settings: Settings, webhook_secrets: list[str], guard: WebhookGuard
) -> Mapping[str, object]:
    return {
        "email": SmtpEmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            starttls=settings.smtp_starttls,
        ),
        "webhook": WebhookChannel(
            webhook_secrets,
            now=lambda: int(time.time()),
            guard=guard,
        ),
    }


def prefetch(
    events: DocumentEventStore, storage: Storage
) -> Callable[[Envelope], list[tuple[str, str]]]:
    """What a message's handler reads besides its inbox record, fetched with it in one
    round trip: a delivery's notification (its stream's head and first event, its view),
    an event's recipient (when the event names it)."""

    def documents(envelope: Envelope) -> list[tuple[str, str]]:
        payload = envelope.payload
        if isinstance(payload, DeliverNotification | ConfirmNotification):
            nid = payload.notification_id
            return [*events.first_reads(nid), (storage.view.collection, nid)]
        if not isinstance(payload, Event):
            return []
        rule = RULES.get(type(payload))
        if rule is None or rule.looked_up is not None or rule.configured:
            return []
        return [(storage.recipients, rule.recipient(payload))]

    return documents


def build(platform: Platform) -> NotificationsWiring:
    settings = platform.settings
    webhook_secrets, confirmation_keys = _keys(settings)
    events = DocumentEventStore(
        platform.store,
        EventStoreCollections.named(settings.collection(NAMES.name)),
        platform.clock,
        shards=LOG_SHARDS,
    )
    storage = Storage(
        events=events,
        view=NotificationsView(settings.collection(VIEW)),
        recipients=settings.collection(RECIPIENTS),
        inbox=settings.collection(f"{NAMES.name}_inbox"),
        # The channels' addresses and URLs, and a pending change's new address, sealed with
        # the shared field cipher (recipients.py).
        recipient_fields=channel_fields(settings),
        deliveries=settings.collection(DELIVERIES),
    )
    guard = webhook_guard(settings)
    deps = Dependencies(
        check_webhook_url=lambda url: _refuse_as_permanent(guard, url),
        clock=platform.clock,
        schedule=parse_schedule(settings.notification_retry_schedule),
        lease=DEFAULT_LEASE,
        operator_channels=tuple(
            ChannelPreference(channel="email", address=address.strip())
            for address in settings.operator_email.split(",")[:1]
            if address.strip()
        ),
    )
    processor: MessageProcessor[NotificationsUnitOfWork, Dependencies] = MessageProcessor(
        consumer=NAMES.name,
        context=NAMES,
        inbox_collection=storage.inbox,
        store=platform.store,
        publisher=platform.publisher,
        make_uow=lambda tx: NotificationsUnitOfWork(tx, storage),
        handlers=processor_handlers(HANDLERS, IN_PROCESS_HANDLERS),
        deps=deps,
        clock=platform.clock,
        prefetch=prefetch(events, storage),
    )
    links = ConfirmationLinks(
        keys=confirmation_keys,
        # Links open on the public api (confirmation.CONFIRM_PATH): the notifications door
        # that checks them is internal.
        base_url=settings.require_public_url(),
    )
    # A link of its own purpose: a notification's confirmation link never changes an address.
    address_links = ConfirmationLinks(
        keys=confirmation_keys,
        base_url=links.base_url,
        purpose=address_change.PURPOSE,
        path=ADDRESS_CHANGE_PATH,
    )
    sending = dict(channels(settings, webhook_secrets, guard))
    sending["email"] = address_change.AddressChangeMail(
        sending["email"],  # type: ignore[arg-type]
        platform.store,
        storage.recipients,
        storage.recipient_fields,
        address_links,
        platform.clock,
    )
    delivery = DeliveryService(
        processor=processor,
        store=platform.store,
        storage=storage,
        publisher=platform.publisher,
        channels=sending,  # type: ignore[arg-type]
        links=links,
        deps=deps,
    )
    commands = CommandLog(
        store=platform.store,
        collection=settings.collection(f"{NAMES.name}_commands"),
        inbox_collection=storage.inbox,
        dead_letters=platform.dead_letters,
        clock=platform.clock,
    )
    contacts = ExpertContacts(
        platform.doors, platform.store, storage.recipients, processor, platform.clock,
        storage.recipient_fields,
    )  # fmt: skip
    centers = CenterContacts(
        platform.doors, platform.store, storage.recipients, processor, platform.clock,
        storage.recipient_fields,
    )  # fmt: skip
    address_changes = address_change.AddressChanges(
        platform.store, storage.recipients, storage.recipient_fields, address_links,
        platform.clock,
    )  # fmt: skip
    return NotificationsWiring(
        platform, storage, processor, delivery, links, guard, commands, contacts, centers,
        address_changes,
    )  # fmt: skip
