"""Read side: a recipient's notifications, one notification with its history rebuilt from
the event store, and what became of every notification one event caused."""

from __future__ import annotations

from typing import Any

from functions.notifications.domain import Notification
from shared.ports.documents import Document, DocumentStore, Filter
from shared.ports.event_store import EventStore
from shared.service.event_sourcing import Upcasters, decode
from shared.service.pagination import newest_first

_VIEW_FIELDS = (
    "notification_id", "recipient_id", "channel", "template", "status", "attempts",
    "cause_event_id", "cause_event_type", "created_at", "next_attempt_at", "last_reason",
    "sent_at", "failed_at", "confirmed_at", "version",
)  # fmt: skip


def notification_view(document: Document) -> dict[str, Any]:
    return {name: document.get(name) for name in _VIEW_FIELDS}


def notifications_of_recipient(
    store: DocumentStore, collection: str, recipient_id: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Newest first. Needs the composite index (recipient_id ASC, created_at DESC)."""
    return newest_first(
        store, collection, [Filter("recipient_id", "==", recipient_id)],
        order_by="created_at", view=notification_view, limit=limit, cursor=cursor,
    )  # fmt: skip


def notifications_caused_by(
    store: DocumentStore, collection: str, event_id: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The delivery status of every notification an event caused. Needs the composite index
    (cause_event_id ASC, created_at DESC)."""
    return newest_first(
        store, collection, [Filter("cause_event_id", "==", event_id)],
        order_by="created_at", view=notification_view, limit=limit, cursor=cursor,
    )  # fmt: skip


def notification_with_history(events: EventStore, notification_id: str) -> dict[str, Any] | None:
    """The notification as its stream says, with every event of it (internal ones too)."""
    stream = events.read_stream(notification_id)
    if not stream:
        return None
    notification = Notification.blank(notification_id)
    history = []
    for recorded in stream:
        event = decode(recorded, Upcasters())
        if event is not None:
            notification.apply(event)
        history.append(
            {
                "version": recorded.version,
                "type": recorded.type,
                "recorded_at": recorded.recorded_at,
                "data": recorded.data,
            }
        )
    return {
        "notification_id": notification_id,
        "recipient_id": notification.recipient_id,
        "channel": notification.channel,
        "template": notification.template,
        "facts": notification.facts,
        "status": notification.status.value,
        "attempts": notification.attempts,
        "cause_event_id": notification.cause_event_id,
        "cause_event_type": notification.cause_event_type,
        "created_at": notification.created_at,
        "sent_at": notification.sent_at,
        "confirmed_at": notification.confirmed_at,
        "last_reason": notification.last_reason,
        "version": stream[-1].version,
        "history": history,
    }
