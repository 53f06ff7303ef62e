"""The send step: claim an attempt (one transaction), send, record what happened (another).

Sending cannot sit inside a transaction that may run again, so a delivery is three steps:
1. the message processor runs `claim_delivery` with the inbox: of two deliveries of one
   DeliverNotification, one commits the claim and the other finds the inbox record;
2. the winner, and only it, sends (outside any transaction);
3. the outcome is appended at the version after the claim, and published.
A claimant that dies between 1 and 3 leaves the attempt claimed; once the claim's lease has
run out, a redelivery takes the attempt over with a new claim (again: one winner) and sends.
That is the one window in which a message can go out twice, and its Message-ID or
webhook-id (the notification id) lets the receiver see it is the same one.
A redelivery after step 3 publishes that attempt's outcome again (same ids), in case the
first publish was lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from functions.notifications.confirmation import ConfirmationLinks
from functions.notifications.domain import (
    AttemptInFlight,
    Notification,
    Outcome,
    Status,
    follow_ups,
)
from functions.notifications.handlers import Dependencies
from functions.notifications.messages import (
    NAMES,
    PUBLIC_EVENTS,
    DeliverNotification,
    DeliveryAttemptFailed,
    NotificationFailed,
    NotificationSent,
)
from functions.notifications.ports import Channel, Outgoing
from functions.notifications.recipients import Recipient
from functions.notifications.templates import render
from functions.notifications.unit_of_work import NotificationsUnitOfWork, Storage
from shared.domain.clock import rfc3339
from shared.logging import get_logger
from shared.ports.documents import DocumentStore, DocumentTransaction
from shared.ports.envelope import Envelope, derived_id
from shared.ports.publishing import EventPublisher
from shared.service.event_sourcing import Staged, Upcasters, decode
from shared.service.processing import MessageProcessor

log = get_logger(__name__)


@dataclass
class DeliveryService:
    processor: MessageProcessor[NotificationsUnitOfWork, Dependencies]
    store: DocumentStore
    storage: Storage
    publisher: EventPublisher
    channels: Mapping[str, Channel]
    links: ConfirmationLinks
    deps: Dependencies

    def deliver(self, envelope: Envelope) -> str:
        """Carry out one DeliverNotification; what became of it (for the log line)."""
        command = envelope.payload
        assert isinstance(command, DeliverNotification)
        processed = self.processor.process(envelope)  # NotYetDue, AttemptInFlight: retried
        if processed.outcome == "rejected":
            return "rejected"
        notification = self._load(command.notification_id)
        attempt = command.attempt
        if notification.holds(attempt, envelope.id) and not processed.duplicate:
            claimant = envelope.id
        elif notification.status == Status.SENDING and notification.attempts == attempt:
            lease = notification.lease_until or ""
            if rfc3339(self.deps.clock()) < lease:
                raise AttemptInFlight("the attempt is claimed and its lease runs")
            taken = self._take_over(command.notification_id, attempt, envelope)
            if taken is None:
                return "taken_over_elsewhere"
            claimant = taken
        else:
            self._publish(self._outcome_of(command.notification_id, attempt), envelope)
            return "nothing_to_send"
        outcome = self._send(notification)
        staged = self._conclude(command.notification_id, attempt, claimant, outcome)
        self._publish(staged, envelope)
        log.info("delivery_attempt", attempt=attempt, channel=notification.channel,
                 delivered=outcome.delivered, reason=outcome.reason)  # fmt: skip
        return "sent" if outcome.delivered else f"attempt_failed:{outcome.reason}"

    # -- steps -----------------------------------------------------------------------------
    def _uow(self, tx: DocumentTransaction) -> NotificationsUnitOfWork:
        return NotificationsUnitOfWork(tx, self.storage)

    def _load(self, notification_id: str) -> Notification:
        """The notification as committed, read without a transaction: the many duplicate
        deliveries of a busy attempt must not lock the stream its claimant writes to."""
        stream = self.storage.events.read_stream(notification_id)
        if not stream:
            raise RuntimeError("a claimed notification has a stream")
        notification = Notification.blank(notification_id)
        for recorded in stream:
            event = decode(recorded, Upcasters())
            if event is not None:
                notification.apply(event)
            notification.version = recorded.version
        return notification

    def _take_over(self, notification_id: str, attempt: int, envelope: Envelope) -> str | None:
        claimant = f"{envelope.id}:takeover:{uuid.uuid4().hex[:8]}"

        def claim(tx: DocumentTransaction) -> bool:
            uow = self._uow(tx)
            notification = uow.notifications.get(notification_id)
            if notification is None:
                return False
            claimed = notification.claim(attempt, claimant, self.deps.clock(), self.deps.lease)
            uow.stage_changes()
            return claimed

        try:
            return claimant if self.store.run_in_transaction(claim) else None
        except AttemptInFlight:
            return None  # another redelivery took it over a moment ago

    def _send(self, notification: Notification) -> Outcome:
        found = self.store.get(self.storage.recipients, notification.recipient_id)
        recipient = Recipient.from_document(found) if found else None
        preference = (
            recipient.channel(notification.channel, notification.template) if recipient else None
        )
        channel = self.channels.get(notification.channel)
        if preference is None or channel is None:
            return Outcome(False, "no_channel", permanent=True)
        subject, text = render(notification.template, notification.facts)
        outgoing = Outgoing(
            notification_id=notification.id,
            recipient_id=notification.recipient_id,
            template=notification.template,
            subject=subject,
            text=text,
            facts=notification.facts,
            cause_event_id=notification.cause_event_id,
            cause_event_type=notification.cause_event_type,
            created_at=notification.created_at,
            confirm_url=self.links.url(notification.id, self.deps.clock()),
        )
        try:
            return channel.send(outgoing, preference)
        except Exception as error:  # a bug of an adapter must end the attempt, not hang it
            # The type only: an exception's text may hold an address or a URL.
            log.error("channel_error", channel=notification.channel, error=type(error).__name__)
            return Outcome(False, f"channel_error_{type(error).__name__}"[:100])

    def _conclude(
        self, notification_id: str, attempt: int, claimant: str, outcome: Outcome
    ) -> list[Staged]:
        def record(tx: DocumentTransaction) -> list[Staged]:
            uow = self._uow(tx)
            notification = uow.notifications.get(notification_id)
            if notification is None or not notification.holds(attempt, claimant):
                return []  # taken over: the new claimant records its own outcome
            notification.conclude(attempt, outcome, self.deps.clock(), self.deps.schedule)
            uow.stage_changes()
            return uow.staged

        # After a send, losing its outcome is what would send it again (once the lease runs
        # out): retried for a minute against contention, whatever the store raises for it.
        recording = Retrying(
            retry=retry_if_exception_type(Exception),
            stop=stop_after_delay(60),
            wait=wait_random_exponential(multiplier=0.05, max=2),
            reraise=True,
        )
        return recording(self.store.run_in_transaction, record)

    def _outcome_of(self, notification_id: str, attempt: int) -> list[Staged]:
        """The events that ended attempt `attempt`, as stored (to publish them again)."""
        found = []
        for recorded in self.storage.events.read_stream(notification_id):
            event = decode(recorded, Upcasters())
            if (
                isinstance(event, NotificationSent | DeliveryAttemptFailed)
                and event.attempt == attempt
            ) or (isinstance(event, NotificationFailed) and event.attempts == attempt):
                found.append(Staged(event, recorded))
        return found

    def _publish(self, staged: list[Staged], cause: Envelope) -> None:
        by_topic: dict[str, list[Envelope]] = {}
        for item in staged:
            base = derived_id(
                "notification-event", item.recorded.stream_id, str(item.recorded.version)
            )
            messages: list[Any] = []
            if isinstance(item.event, PUBLIC_EVENTS):
                messages.append((NAMES.events_topic, item.event))
            messages += [(NAMES.commands_topic, c) for c in follow_ups(item.event)]
            for index, (topic, payload) in enumerate(messages):
                by_topic.setdefault(topic, []).append(
                    Envelope(
                        payload=payload,
                        source=NAMES.source,
                        id=derived_id(base, str(index)),
                        correlation_id=cause.correlation_id,
                        causation_id=cause.id,
                    )
                )
        for topic, envelopes in by_topic.items():
            self.publisher.publish(topic, envelopes)
