"""The Notification aggregate, event-sourced: its state is the fold of its stream.

One notification is one message to one recipient over one channel, caused by one event.
Delivery is a sequence of attempts on a schedule (seconds, then minutes, then hours, like
the best webhook services); each attempt is first claimed (an event appended with the
expected version, so of two deliveries of the same attempt exactly one sends), then ends in
`sent`, in a retry at the next step of the schedule, or in `failed` with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from functions.notifications.messages import (
    DeliverNotification,
    DeliveryAttemptFailed,
    DeliveryAttemptStarted,
    Fact,
    NotificationConfirmed,
    NotificationCreated,
    NotificationFailed,
    NotificationSent,
    NotificationStatus,
)
from shared.domain.clock import rfc3339
from shared.domain.errors import PermanentError, TransientError
from shared.domain.event_sourced import EventSourcedAggregate
from shared.domain.messages import Command, Event

# The waits before attempts 2, 3, ...: after the last one the notification has failed.
DEFAULT_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# How long a claimed attempt may stay without an outcome before another delivery may take it
# over (the claimant died between the claim and recording what happened). It outlives
# everything a live claimant does with its claim: a send starts only in the first
# SEND_WINDOW of the lease, a send is bounded by its channel's timeouts (well under a
# minute and a half), and recording the outcome stops trying before the lease ends. So a
# takeover only ever finds a claimant that is gone (in the cloud the function's own
# timeout, 120 s, ends it long before).
DEFAULT_LEASE = timedelta(minutes=5)
SEND_WINDOW = timedelta(minutes=2)


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """ "5s,5m,30m,2h" → the waits; units s, m, h."""
    units = {"s": "seconds", "m": "minutes", "h": "hours"}
    waits = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        number, unit = part[:-1], part[-1]
        if unit not in units or not number.replace(".", "", 1).isdigit():
            raise ValueError(f"a wait is a number and s, m or h: {part!r}")
        waits.append(timedelta(**{units[unit]: float(number)}))
    return tuple(waits)


class NotYetDue(TransientError):
    """The attempt's time has not come: the platform redelivers the command later."""


class AttemptInFlight(TransientError):
    """Another delivery holds the attempt and its lease runs: ask again after it."""


class ClaimTooOld(TransientError):
    """This delivery's claim is too far into its lease to start a send that could outlast
    it: it sends nothing, and a redelivery takes the attempt over once the lease ends."""


@dataclass(frozen=True)
class Outcome:
    """What a channel answered for one attempt."""

    delivered: bool
    reason: str = ""  # a code, never an address or a server's free text
    permanent: bool = False  # retrying cannot help (an address refused, a 4xx webhook)


@dataclass(kw_only=True, eq=False)
class Notification(EventSourcedAggregate):
    recipient_id: str = ""
    channel: str = "none"
    template: str = ""
    cause_event_id: str = ""
    cause_event_type: str = ""
    cause_subject: str = ""
    facts: dict[str, Fact] = field(default_factory=dict)
    created_at: str = ""
    status: NotificationStatus = NotificationStatus.PENDING
    attempts: int = 0  # attempts claimed so far
    # Claims of the current attempt: above 1 after a takeover. 0 when unknown (state from a
    # snapshot of before this field): counted as claimed before.
    claims: int = 0
    claimed_by: str | None = None
    claimed_at: str | None = None
    lease_until: str | None = None
    next_attempt_at: str | None = None
    last_reason: str | None = None
    sent_at: str | None = None
    confirmed_at: str | None = None

    # -- decisions -------------------------------------------------------------------------
    @classmethod
    def create(cls, created: NotificationCreated, no_channel_reason: str = "") -> Self:
        notification = cls.blank(created.notification_id)
        notification.record(created)
        if created.channel == "none":
            notification.record(
                NotificationFailed(
                    notification_id=created.notification_id,
                    recipient_id=created.recipient_id,
                    channel="none",
                    reason=no_channel_reason or "no_channel",
                    attempts=0,
                    failed_at=created.created_at,
                )
            )
        return notification

    @property
    def done(self) -> bool:
        return self.status in (
            NotificationStatus.SENT,
            NotificationStatus.FAILED,
            NotificationStatus.CONFIRMED,
        )

    def claim(self, attempt: int, claimed_by: str, now: datetime, lease: timedelta) -> bool:
        """Claim attempt `attempt` for the delivery `claimed_by`; False when there is
        nothing to do (done, or this attempt is behind us)."""
        if self.done or attempt < self.attempts:
            return False
        if attempt == self.attempts:  # claimed before: a crash, or a duplicate delivery
            if self.status != NotificationStatus.SENDING or claimed_by == self.claimed_by:
                return False
            if self.lease_until is not None and rfc3339(now) < self.lease_until:
                raise AttemptInFlight("another delivery holds this attempt")
        elif attempt > self.attempts + 1:
            return False  # a command from the future of another schedule: not ours
        if self.next_attempt_at is not None and rfc3339(now) < self.next_attempt_at:
            raise NotYetDue(f"attempt {attempt} is due at {self.next_attempt_at}")
        self.record(
            DeliveryAttemptStarted(
                notification_id=self.id,
                attempt=attempt,
                claimed_by=claimed_by,
                started_at=rfc3339(now),
                lease_until=rfc3339(now + lease),
            )
        )
        return True

    def may_start_send(self, now: datetime, window: timedelta = SEND_WINDOW) -> bool:
        """Whether the current claim is young enough for a send to start (see DEFAULT_LEASE)."""
        if self.claimed_at is None:
            return False
        started = datetime.fromisoformat(self.claimed_at.replace("Z", "+00:00"))
        return now <= started + window

    @property
    def claimed_before(self) -> bool:
        """Whether another delivery claimed the current attempt before this claim (and
        may have sent it): only then can the delivery ledger hold a yes for it."""
        return self.claims != 1

    def holds(self, attempt: int, claimed_by: str) -> bool:
        return (
            self.status == NotificationStatus.SENDING
            and self.attempts == attempt
            and self.claimed_by == claimed_by
        )

    def conclude(
        self, attempt: int, outcome: Outcome, now: datetime, schedule: tuple[timedelta, ...]
    ) -> None:
        """Record what attempt `attempt` came to."""
        if self.status != NotificationStatus.SENDING or self.attempts != attempt:
            return  # concluded already (a redelivery after the outcome was stored)
        at = rfc3339(now)
        if outcome.delivered:
            self.record(
                NotificationSent(
                    notification_id=self.id,
                    recipient_id=self.recipient_id,
                    channel=self.channel,  # type: ignore[arg-type]
                    attempt=attempt,
                    sent_at=at,
                )
            )
        elif outcome.permanent or attempt > len(schedule):
            self.record(
                NotificationFailed(
                    notification_id=self.id,
                    recipient_id=self.recipient_id,
                    channel=self.channel,  # type: ignore[arg-type]
                    reason=outcome.reason,
                    attempts=attempt,
                    failed_at=at,
                )
            )
        else:
            self.record(
                DeliveryAttemptFailed(
                    notification_id=self.id,
                    attempt=attempt,
                    reason=outcome.reason,
                    failed_at=at,
                    retry_at=rfc3339(now + schedule[attempt - 1]),
                )
            )

    def confirm(self, now: datetime) -> None:
        if self.status == NotificationStatus.CONFIRMED:
            raise PermanentError("link_already_used", "this notification is confirmed already")
        if self.status != NotificationStatus.SENT:
            raise PermanentError("not_delivered", "only a delivered notification is confirmed")
        self.record(
            NotificationConfirmed(
                notification_id=self.id,
                recipient_id=self.recipient_id,
                via="link",
                confirmed_at=rfc3339(now),
            )
        )

    # -- state -----------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        if isinstance(event, NotificationCreated):
            self.recipient_id = event.recipient_id
            self.channel = event.channel
            self.template = event.template
            self.cause_event_id = event.cause_event_id
            self.cause_event_type = event.cause_event_type
            self.cause_subject = event.cause_subject
            self.facts = dict(event.facts)
            self.created_at = event.created_at
            self.status = NotificationStatus.PENDING
            self.next_attempt_at = event.created_at
        elif isinstance(event, DeliveryAttemptStarted):
            if event.attempt != self.attempts:
                self.claims = 1
            elif self.claims:
                self.claims += 1
            self.status = NotificationStatus.SENDING
            self.attempts = event.attempt
            self.claimed_by = event.claimed_by
            self.claimed_at = event.started_at
            self.lease_until = event.lease_until
        elif isinstance(event, DeliveryAttemptFailed):
            self.status = NotificationStatus.RETRYING
            self.last_reason = event.reason
            self.next_attempt_at = event.retry_at
            self.claimed_by = self.claimed_at = self.lease_until = None
        elif isinstance(event, NotificationSent):
            self.status = NotificationStatus.SENT
            self.sent_at = event.sent_at
            self.next_attempt_at = self.claimed_by = self.claimed_at = self.lease_until = None
        elif isinstance(event, NotificationFailed):
            self.status = NotificationStatus.FAILED
            self.last_reason = event.reason
            self.next_attempt_at = self.claimed_by = self.claimed_at = self.lease_until = None
        elif isinstance(event, NotificationConfirmed):
            self.status = NotificationStatus.CONFIRMED
            self.confirmed_at = event.confirmed_at

    def to_snapshot(self) -> dict[str, Any]:
        state = asdict(self)
        for private in ("id", "version", "_pending"):
            state.pop(private, None)
        return state

    @classmethod
    def from_snapshot(cls, aggregate_id: str, version: int, state: dict[str, Any]) -> Self:
        return cls(
            id=aggregate_id,
            version=version,
            **{**state, "status": NotificationStatus(state["status"])},
        )


def follow_ups(event: Event) -> list[Command]:
    """The commands an event of a notification's stream calls for: every scheduled attempt
    is one DeliverNotification, which its own function carries out when it is due."""
    if isinstance(event, NotificationCreated) and event.channel != "none":
        return [
            DeliverNotification(
                notification_id=event.notification_id, attempt=1, not_before=event.created_at
            )
        ]
    if isinstance(event, DeliveryAttemptFailed):
        return [
            DeliverNotification(
                notification_id=event.notification_id,
                attempt=event.attempt + 1,
                not_before=event.retry_at,
            )
        ]
    return []
