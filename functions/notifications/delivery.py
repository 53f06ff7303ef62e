"""The send step: claim an attempt (one transaction), send, record what happened (another).

Sending cannot sit inside a transaction that may run again, so a delivery is three steps:
1. the message processor runs `claim_delivery` with the inbox: of two deliveries of one
   DeliverNotification, one commits the claim and the other finds the inbox record;
2. the winner, and only it, sends (outside any transaction), and only while its claim is
   young (domain.SEND_WINDOW): whatever it then does ends before the claim's lease;
3. the channel's yes is written at once to the delivery ledger (`notifications_deliveries`,
   one document per notification, nothing else writes it), then the outcome is appended at
   the version after the claim, and published; recording is retried until shortly before
   the lease ends.
Every other delivery of the attempt, concurrent or late, sends nothing: while the claim's
lease runs it is told to come back (AttemptInFlight); after `sent` is recorded, or once
the ledger holds the yes, it publishes the stored outcome or records `sent` from the
ledger. Only a claimant that is gone (a crash, or a store unreachable from the SMTP
server's yes until the lease ends) leaves an attempt whose yes is not recorded: once the
lease has run out a redelivery takes it over with a new claim (again: one winner) and
sends again, under the same Message-ID or webhook-id (the notification id), so the
receiver can see it is the same one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from functions.notifications.confirmation import ConfirmationLinks
from functions.notifications.domain import (
    AttemptInFlight,
    ClaimTooOld,
    Notification,
    Outcome,
    follow_ups,
)
from functions.notifications.messages import (
    NAMES,
    PUBLIC_EVENTS,
    DeliverNotification,
    DeliveryAttemptFailed,
    NotificationFailed,
    NotificationSent,
    NotificationStatus,
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

if TYPE_CHECKING:
    # Only named in annotations: handlers.py imports this module (DeliverNotification's
    # Consumer is DeliveryService.deliver), so importing it back at run time would be a cycle.
    from functions.notifications.handlers import Dependencies

log = get_logger(__name__)

# Recording an outcome stops trying this long before the claim's lease ends, so a takeover
# never races a live claimant.
RECORD_MARGIN = timedelta(seconds=15)


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
        nid, attempt = command.notification_id, command.attempt
        notification = self._load(nid)
        if notification.holds(attempt, envelope.id) and not processed.duplicate:
            claimant = envelope.id
        elif notification.status == NotificationStatus.SENDING and notification.attempts == attempt:
            # Claimed by another delivery, or by an earlier delivery of this very message.
            lease = notification.lease_until or ""
            if rfc3339(self.deps.clock()) < lease:
                raise AttemptInFlight("the attempt is claimed and its lease runs")
            taken = self._take_over(nid, attempt, envelope)
            if taken is None:
                return "taken_over_elsewhere"
            claimant = taken
            notification = self._load(nid)
        else:
            self._publish(self._outcome_of(nid, attempt), envelope)
            return "nothing_to_send"
        if notification.claimed_before and self._accepted(nid):
            # An earlier claimant's send was accepted and its outcome never recorded. (A
            # first claim of an attempt has no earlier claimant: no read of the ledger.)
            outcome, how = Outcome(True), "recorded_from_ledger"
        elif not notification.may_start_send(self.deps.clock()):
            raise ClaimTooOld("the claim is too old to start a send")
        else:
            outcome = self._send(notification)
            how = "sent" if outcome.delivered else f"attempt_failed:{outcome.reason}"
            if outcome.delivered:
                self._write_ledger(nid, attempt, notification, claimant)
        staged = self._conclude(nid, attempt, claimant, outcome, notification)
        self._publish(staged, envelope)
        log.info("delivery_attempt", attempt=attempt, channel=notification.channel,
                 delivered=outcome.delivered, reason=outcome.reason, how=how)  # fmt: skip
        return how

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
        recipient = Recipient.from_document(found, self.storage.recipient_fields) if found else None
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

    def _accepted(self, notification_id: str) -> bool:
        return self.store.get(self.storage.deliveries, notification_id) is not None

    def _write_ledger(
        self, notification_id: str, attempt: int, notification: Notification, claimant: str
    ) -> None:
        """The channel said yes: written before anything else, in a document only this step
        writes (no contention), so that a later claimant records `sent` instead of sending."""
        accepted = {
            "notification_id": notification_id,
            "attempt": attempt,
            "channel": notification.channel,
            "claimed_by": claimant,
            "accepted_at": rfc3339(self.deps.clock()),
        }
        writing = Retrying(
            retry=retry_if_exception_type(Exception),
            stop=stop_after_delay(20),
            wait=wait_random_exponential(multiplier=0.05, max=1),
            reraise=True,
        )
        try:
            writing(
                self.store.run_in_transaction,
                lambda tx: tx.put(self.storage.deliveries, notification_id, accepted),
            )
        except Exception as error:  # the outcome's own record below may still succeed
            log.error("delivery_ledger_unwritten", error=type(error).__name__)

    def _conclude(
        self,
        notification_id: str,
        attempt: int,
        claimant: str,
        outcome: Outcome,
        claimed: Notification,
    ) -> list[Staged]:
        def record(tx: DocumentTransaction) -> list[Staged]:
            uow = self._uow(tx)
            # From the state read after the claim: only the stream's head (the version
            # check) and what was appended since are read again, not its first events.
            notification = uow.notifications.get(notification_id, known=claimed)
            if notification is None or not notification.holds(attempt, claimant):
                return []  # taken over: the new claimant records its own outcome
            notification.conclude(attempt, outcome, self.deps.clock(), self.deps.schedule)
            uow.stage_changes()
            return uow.staged

        # Retried against contention, whatever the store raises for it, until shortly before
        # the claim's lease ends: past it, a redelivery may take the attempt over, and finds
        # the channel's yes in the ledger.
        recording = Retrying(
            retry=retry_if_exception_type(Exception),
            stop=stop_after_delay(_seconds_left(claimed.lease_until, self.deps.clock())),
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


def _seconds_left(lease_until: str | None, now: datetime) -> float:
    """Real seconds a claimant may keep recording: up to RECORD_MARGIN before its lease."""
    if not lease_until:
        return 5.0
    until = datetime.fromisoformat(lease_until.replace("Z", "+00:00")) - RECORD_MARGIN
    return max(5.0, min((until - now).total_seconds(), 300.0))
