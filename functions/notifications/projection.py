"""The read model of the queries: one document per notification, folded from its stream.

It is written in the transaction of every append (the live view) and can be rebuilt from
zero by replaying the global log (`ProjectionRunner`, `python -m infra.local notifications
rebuild`): both run this one fold, so both give the same documents.
"""

from __future__ import annotations

from typing import Any

from functions.notifications.messages import (
    DeliveryAttemptFailed,
    DeliveryAttemptStarted,
    NotificationConfirmed,
    NotificationCreated,
    NotificationFailed,
    NotificationSent,
)
from shared.ports.documents import Document
from shared.ports.event_store import RecordedEvent

COLLECTION = "notifications_view"
_KNOWN = {
    NotificationCreated.TYPE,
    DeliveryAttemptStarted.TYPE,
    DeliveryAttemptFailed.TYPE,
    NotificationSent.TYPE,
    NotificationFailed.TYPE,
    NotificationConfirmed.TYPE,
}


class NotificationsView:
    name = "notifications_view"

    def __init__(self, collection: str = COLLECTION) -> None:
        self.collection = collection

    def key(self, event: RecordedEvent) -> str | None:
        return event.stream_id if event.type in _KNOWN else None

    def fold(self, view: Document | None, event: RecordedEvent) -> Document:
        data: dict[str, Any] = event.data
        if event.type == NotificationCreated.TYPE:
            # A fresh document: a rebuild replaces whatever was there.
            view = {
                "notification_id": data["notification_id"],
                "recipient_id": data["recipient_id"],
                "channel": data["channel"],
                "template": data["template"],
                "facts": data["facts"],
                "cause_event_id": data["cause_event_id"],
                "cause_event_type": data["cause_event_type"],
                "cause_subject": data["cause_subject"],
                "created_at": data["created_at"],
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": data["created_at"],
                "last_reason": None,
                "sent_at": None,
                "failed_at": None,
                "confirmed_at": None,
            }
        view = dict(view or {"notification_id": event.stream_id})
        if event.type == DeliveryAttemptStarted.TYPE:
            view.update(status="sending", attempts=data["attempt"])
        elif event.type == DeliveryAttemptFailed.TYPE:
            view.update(
                status="retrying", last_reason=data["reason"], next_attempt_at=data["retry_at"]
            )
        elif event.type == NotificationSent.TYPE:
            view.update(status="sent", sent_at=data["sent_at"], next_attempt_at=None)
        elif event.type == NotificationFailed.TYPE:
            view.update(
                status="failed",
                last_reason=data["reason"],
                failed_at=data["failed_at"],
                next_attempt_at=None,
            )
        elif event.type == NotificationConfirmed.TYPE:
            view.update(status="confirmed", confirmed_at=data["confirmed_at"])
        view.update(version=event.version, updated_at=event.recorded_at)
        return view
