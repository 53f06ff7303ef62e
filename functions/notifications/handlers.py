"""Handlers: one per message the context consumes, each a plain function of (message, unit
of work, dependencies) run by the message processor in one transaction with the inbox.

- `notify` turns an event of another context into notifications, one per channel of its
  recipient (or one `failed` with reason no_channel). A notification's id is derived from the
  causing event's id, the recipient and the channel, so however often and in whatever order
  an event arrives, it creates each notification once. A SubscriptionCreated naming another
  address than its client's asks the current address to confirm the change
  (address_change.py): one more notification, `address_change_requested`.
- `claim_delivery` claims an attempt: DeliverNotification's Consumer,
  delivery.DeliveryService.deliver, hands it to the processor, and sends after the claim
  commits.
- `set_recipient_channels` stores a recipient's preferences.
- `confirm_notification` records a followed confirmation link (internal).

HANDLERS is the map of what the context consumes from topics: each entry is one Cloud
Function, made from it by entrypoints.py (named by the message: notifications_on_saga_stuck
for SagaStuck, notifications_set_recipient_channels for SetRecipientChannels), and one
filtered trigger subscription in infra/topology.yaml. IN_PROCESS_HANDLERS are run by the
processor when the context hands it a message itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from functions.data_services.messages import (
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    ExpertAssigned,
)
from functions.ingestion.messages import ImageRejected, StudyIngested
from functions.notifications import address_change
from functions.notifications.delivery import DeliveryService
from functions.notifications.domain import DEFAULT_LEASE, DEFAULT_SCHEDULE, Notification
from functions.notifications.messages import (
    ChannelKind,
    ChannelPreference,
    ConfirmNotification,
    DeliverNotification,
    NotificationCreated,
    SetRecipientChannels,
)
from functions.notifications.recipients import CenterContacts, ExpertContacts, Recipient
from functions.notifications.rules import OWNER_OF_DATA_SERVICE, RULES, WHERE_OF_DATA_SERVICE
from functions.notifications.unit_of_work import NotificationsUnitOfWork
from functions.sagas.messages import SagaCompensated, SagaCompleted, SagaStuck
from functions.subscriptions.messages import (
    PaymentDeclined,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError, TransientError
from shared.domain.messages import Event, Message
from shared.logging import get_logger
from shared.ports.envelope import Envelope, derived_id
from shared.service.processing import Consumer, MessageHandler

log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    clock: Clock
    schedule: tuple[timedelta, ...] = DEFAULT_SCHEDULE
    lease: timedelta = DEFAULT_LEASE
    # How the operator on call is reached (SALUDTECH_OPERATOR_EMAIL), unless set by command.
    operator_channels: tuple[ChannelPreference, ...] = ()
    # Refuses a webhook URL with a reason code (the lookup-free part of the SSRF guard:
    # adapters/webhook_guard.py; the door and the send check the resolved addresses too).
    check_webhook_url: Callable[[str], None] | None = None


class RecipientNotYetKnown(TransientError):
    """A client's event arrived before the SubscriptionCreated that tells us its contact."""


def notification_id(cause_event_id: str, recipient_id: str, channel: str) -> str:
    return derived_id("notification", cause_event_id, recipient_id, channel)


def _cause(uow: NotificationsUnitOfWork) -> Envelope:
    if uow.cause is None:
        raise RuntimeError("handlers run inside the message processor, which sets the cause")
    return uow.cause


def notify(event: Event, uow: NotificationsUnitOfWork, deps: Dependencies) -> None:
    rule = RULES[type(event)]
    cause = _cause(uow)
    now = deps.clock()
    recipient_id = rule.recipient(event)
    if isinstance(event, DataServiceCreated):
        uow.recipients.remember(OWNER_OF_DATA_SERVICE, event.data_service_id, recipient_id, now)
    if isinstance(event, DataServiceDelivered) and event.fetch_hint:
        # The "ready" notification of the saga says how to fetch the data too, from this.
        uow.recipients.remember(WHERE_OF_DATA_SERVICE, event.data_service_id, event.fetch_hint, now)
    facts = rule.facts_of(event)
    if isinstance(event, SagaCompleted) and facts.get("data_service_id"):
        # Known when the delivery was told before the saga's end (it usually is); else the
        # template points at the route that says it.
        facts["fetch_hint"] = uow.recipients.recall(
            WHERE_OF_DATA_SERVICE, str(facts["data_service_id"])
        )
    if rule.looked_up is not None:
        owner = uow.recipients.recall(rule.looked_up, recipient_id)
        if owner is None:
            raise RecipientNotYetKnown("whose data service this is is not known yet")
        recipient_id = owner
    recipient = _recipient(event, recipient_id, uow, deps)
    if recipient is None and rule.waits_for_recipient:
        raise RecipientNotYetKnown("the client is not known yet")
    channels: list[ChannelKind] = (
        [c.channel for c in recipient.channels_for(rule.template)] if recipient else []
    )
    for channel in channels or ["none"]:
        nid = notification_id(cause.id, recipient_id, channel)
        if uow.notifications.get(nid) is not None:
            continue  # created by an earlier delivery of this event
        created = NotificationCreated(
            notification_id=nid,
            recipient_id=recipient_id,
            channel=channel,
            template=rule.template,
            cause_event_id=cause.id,
            cause_event_type=cause.type,
            cause_subject=cause.subject,
            facts=facts,
            created_at=rfc3339(now),
        )
        reason = (
            "no_channel"
            if recipient is None or not recipient.channels
            else "no_channel_for_template"
        )
        if channel == "none" and rule.configured:
            # Never silently: the failed notification is announced, and this line alerts.
            log.error("configured_recipient_unreachable", template=rule.template, reason=reason)
        uow.notifications.add(Notification.create(created, no_channel_reason=reason))


def _recipient(
    event: Event, recipient_id: str, uow: NotificationsUnitOfWork, deps: Dependencies
) -> Recipient | None:
    """Whom the event's notifications go to, learning what the event tells of them."""
    now = deps.clock()
    if isinstance(event, SubscriptionCreated):
        cause = _cause(uow)
        recipient, change_asked = uow.recipients.learn_client_email(
            recipient_id, event.client_email, _change_id(cause), now
        )
        if change_asked:
            _ask_address_change(uow, recipient_id, cause, now)
        return recipient
    if RULES[type(event)].configured:
        return uow.recipients.learn_configured(recipient_id, deps.operator_channels, now)
    return uow.recipients.get(recipient_id)


def _change_id(cause: Envelope) -> str:
    return derived_id("address-change", cause.id)


def _ask_address_change(
    uow: NotificationsUnitOfWork, recipient_id: str, cause: Envelope, now: datetime
) -> None:
    """The mail to the current address that asks it to confirm a new one: its facts name
    the change only (the address is read, sealed, from the recipient when it is sent)."""
    nid = notification_id(cause.id, recipient_id, address_change.TEMPLATE)
    if uow.notifications.get(nid) is not None:
        return
    created = NotificationCreated(
        notification_id=nid,
        recipient_id=recipient_id,
        channel="email",
        template=address_change.TEMPLATE,
        cause_event_id=cause.id,
        cause_event_type=cause.type,
        cause_subject=cause.subject,
        facts={"change_id": _change_id(cause)},
        created_at=rfc3339(now),
    )
    uow.notifications.add(Notification.create(created))
    log.info("address_change_asked", recipient_id=recipient_id)


def claim_delivery(
    cmd: DeliverNotification, uow: NotificationsUnitOfWork, deps: Dependencies
) -> None:
    notification = uow.notifications.get(cmd.notification_id)
    if notification is None:
        raise PermanentError("unknown_notification", "no such notification")
    notification.claim(cmd.attempt, _cause(uow).id, deps.clock(), deps.lease)


def set_recipient_channels(
    cmd: SetRecipientChannels, uow: NotificationsUnitOfWork, deps: Dependencies
) -> None:
    kinds = [c.channel for c in cmd.channels]
    if len(kinds) != len(set(kinds)):
        raise PermanentError("duplicate_channel", "at most one channel of each kind")
    for preference in cmd.channels:
        if preference.channel == "email" and not (preference.address and "@" in preference.address):
            raise PermanentError(
                "invalid_email", "an email channel needs an address", field="address"
            )
        if preference.channel == "webhook":
            if not (preference.url and preference.url.startswith(("https://", "http://"))):
                raise PermanentError(
                    "invalid_url", "a webhook channel needs an http(s) url", field="url"
                )
            if deps.check_webhook_url is not None:
                deps.check_webhook_url(preference.url)
    uow.recipients.set(cmd.recipient_id, list(cmd.channels), deps.clock())


def confirm_notification(
    cmd: ConfirmNotification, uow: NotificationsUnitOfWork, deps: Dependencies
) -> None:
    notification = uow.notifications.get(cmd.notification_id)
    if notification is None:
        raise PermanentError("unknown_notification", "no such notification")
    notification.confirm(deps.clock())


HANDLERS: Mapping[type[Message], MessageHandler[NotificationsUnitOfWork, Any]] = {
    SubscriptionCreated: notify,
    SubscriptionPaid: notify,
    PaymentDeclined: notify,
    PlanChanged: notify,
    SubscriptionCancelled: notify,
    # A center's address is asked of identity first (recipients.CenterContacts).
    StudyIngested: Consumer(CenterContacts.on_center_event),
    ImageRejected: Consumer(CenterContacts.on_center_event),
    DataServiceCreated: notify,
    DataServiceDelivered: notify,
    DataServiceFailed: notify,
    # The expert's address is asked of the registry first (recipients.ExpertContacts).
    ExpertAssigned: Consumer(ExpertContacts.on_expert_assigned),
    SagaCompleted: notify,
    SagaCompensated: notify,
    SagaStuck: notify,
    DeliverNotification: Consumer(DeliveryService.deliver),
    SetRecipientChannels: set_recipient_channels,
}
# DeliverNotification's claim, handed to the processor by DeliveryService.deliver; and a
# followed confirmation link, by the HTTP function that checks it (never on a topic).
IN_PROCESS_HANDLERS: Mapping[type[Message], MessageHandler[NotificationsUnitOfWork, Any]] = {
    DeliverNotification: claim_delivery,
    ConfirmNotification: confirm_notification,
    ExpertAssigned: notify,
    StudyIngested: notify,
    ImageRejected: notify,
}
