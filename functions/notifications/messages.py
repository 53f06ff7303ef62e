"""The commands and events of the notifications context: its public contract (schema v1).

A notification names its recipient (an id such as `client-0001`, never an address), its
channel, its template and the event that caused it; its facts are the few fields of that
event the template shows, never patient data, never a client's personal data.
The stream of a notification also holds two internal events (attempt_started,
attempt_failed): stored, never published.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.messages import Command, CommandRejected, Event
from shared.domain.read_models import ReadModel
from shared.service.context import ContextNames

_PREFIX = "co.saludtech.notifications.notification"
Id = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$")]
Timestamp = Annotated[str, Field(description="RFC 3339, UTC")]
ChannelKind = Literal["email", "webhook", "none"]
Fact = str | int | bool | None


# -- events (published on notifications-events) -------------------------------------------
class NotificationCreated(Event):
    TYPE = f"{_PREFIX}.created.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    recipient_id: Id
    channel: ChannelKind
    template: Annotated[str, Field(min_length=1, max_length=64)]
    cause_event_id: Annotated[str, Field(min_length=1, max_length=200)]
    cause_event_type: Annotated[str, Field(min_length=1, max_length=200)]
    cause_subject: str
    facts: dict[str, Fact]
    created_at: Timestamp


class NotificationSent(Event):
    TYPE = f"{_PREFIX}.sent.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    recipient_id: Id
    channel: ChannelKind
    attempt: Annotated[int, Field(ge=1)]
    sent_at: Timestamp


class NotificationFailed(Event):
    TYPE = f"{_PREFIX}.failed.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    recipient_id: Id
    channel: ChannelKind
    reason: Annotated[str, Field(max_length=200)]  # a code such as no_channel, smtp_550
    attempts: Annotated[int, Field(ge=0)]
    failed_at: Timestamp


class NotificationConfirmed(Event):
    TYPE = f"{_PREFIX}.confirmed.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    recipient_id: Id
    via: Literal["link"]
    confirmed_at: Timestamp


# -- internal events (stored in a notification's stream only) -------------------------------
class DeliveryAttemptStarted(Event):
    """The claim of one attempt: of two deliveries of it, the one that appended this sends."""

    TYPE = f"{_PREFIX}.attempt_started.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    attempt: Annotated[int, Field(ge=1)]
    claimed_by: str  # the id of the DeliverNotification message that won the claim
    started_at: Timestamp
    lease_until: Timestamp  # after this, a redelivery may take the attempt over


class DeliveryAttemptFailed(Event):
    TYPE = f"{_PREFIX}.attempt_failed.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    attempt: Annotated[int, Field(ge=1)]
    reason: Annotated[str, Field(max_length=200)]
    failed_at: Timestamp
    retry_at: Timestamp


# -- commands ------------------------------------------------------------------------------
class DeliverNotification(Command):
    """Make attempt `attempt` once `not_before` has passed (issued by the context itself)."""

    TYPE = f"{_PREFIX}.deliver.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    attempt: Annotated[int, Field(ge=1)]
    not_before: Timestamp


class ChannelPreference(BaseModel):
    """One way to reach a recipient; `templates` limits it to some notifications."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    channel: Literal["email", "webhook"]
    address: Annotated[str | None, Field(max_length=254)] = None  # email
    url: Annotated[str | None, Field(max_length=2000)] = None  # webhook, https in the cloud
    templates: list[Annotated[str, Field(max_length=64)]] | None = None  # None: all


class SetRecipientChannels(Command):
    """Replace how a recipient is reached; an empty list means: tell them nothing."""

    TYPE = "co.saludtech.notifications.recipient.set_channels.v1"
    SUBJECT_FIELD = "recipient_id"

    recipient_id: Id
    channels: Annotated[list[ChannelPreference], Field(max_length=10)]


class ConfirmNotification(Command):
    """A confirmation link was followed (internal: recorded by the HTTP function itself)."""

    INTERNAL = True
    TYPE = f"{_PREFIX}.confirm.v1"
    SUBJECT_FIELD = "notification_id"

    notification_id: Id
    link_id: str  # a digest of the link, so a replayed link is the same message


class NotificationsCommandRejected(CommandRejected):
    TYPE = "co.saludtech.notifications.command.rejected.v1"
    SUBJECT_FIELD = "command_id"


NAMES = ContextNames("notifications", NotificationsCommandRejected)
PUBLIC_EVENTS: tuple[type[Event], ...] = (
    NotificationCreated,
    NotificationSent,
    NotificationFailed,
    NotificationConfirmed,
)


class NotificationStatus(StrEnum):
    PENDING = "pending"  # created, first attempt not made yet
    SENDING = "sending"  # an attempt is claimed
    RETRYING = "retrying"  # an attempt failed, the next is scheduled
    SENT = "sent"
    FAILED = "failed"
    CONFIRMED = "confirmed"


# -- read models: what this context's doors answer (the api reads the same models) --------
class Confirmed(ReadModel):
    notification_id: str
    status: str  # confirmed


class AddressChanged(ReadModel):
    """A followed address-change link: the recipient's notifications go to its new address
    (the answer to a second click of the same link too)."""

    recipient_id: str
    status: str  # changed


class NotificationView(ReadModel):
    """A notification as the projection holds it (a row rebuilt from a later event than its
    creation may hold its id only)."""

    notification_id: str
    recipient_id: str | None
    channel: ChannelKind | None
    template: str | None
    status: NotificationStatus | None
    attempts: int | None
    cause_event_id: str | None
    cause_event_type: str | None
    created_at: str | None
    next_attempt_at: str | None
    last_reason: str | None
    sent_at: str | None
    failed_at: str | None
    confirmed_at: str | None
    version: int | None


class RecordedEventView(ReadModel):
    """One event of a notification's stream (internal ones too), as recorded."""

    version: int
    type: str
    recorded_at: str
    data: dict[str, Any]


class NotificationDetail(ReadModel):
    """A notification as its event stream says, with every event of it."""

    notification_id: str
    recipient_id: str
    channel: str
    template: str
    facts: dict[str, Fact]
    status: NotificationStatus
    attempts: int
    cause_event_id: str
    cause_event_type: str
    created_at: str
    sent_at: str | None
    confirmed_at: str | None
    last_reason: str | None
    version: int
    history: list[RecordedEventView]
