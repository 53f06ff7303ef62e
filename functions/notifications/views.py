"""What the notifications doors answer: their read models, part of the context's published
contract with messages.py. The doors (doors.py) answer them and generate their
GET /openapi.json from them; the api (functions/api/context_views.py) reads the doors'
answers into the same models, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from functions.notifications.domain import NotificationStatus
from functions.notifications.messages import ChannelKind, Fact
from shared.entrypoints.door_app import ReadModel


class Confirmed(ReadModel):
    notification_id: str
    status: str  # confirmed


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
