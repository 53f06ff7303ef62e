"""Where notifications live: their streams in the event store, their live read model and the
recipients, all inside the transaction of the message being processed.

Atomicity, in one sentence: the message processor opens one DocumentTransaction, the
handler's decisions become appends to the notification streams staged in that transaction
(expected version = the version the aggregate was rebuilt at), the read model documents of
those events are folded and staged in it too, and the processor adds the inbox record and
the outbox before it commits; Firestore commits all of it or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.notifications.domain import Notification, follow_ups
from functions.notifications.messages import PUBLIC_EVENTS
from functions.notifications.projection import NotificationsView
from functions.notifications.recipients import RecipientDirectory
from shared.ports.documents import DocumentTransaction
from shared.ports.event_store import EventStore
from shared.service.event_sourcing import EventSourcedRepository, Staged, apply_to_views
from shared.service.field_crypto import SealedFields
from shared.service.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Storage:
    events: EventStore
    view: NotificationsView
    recipients: str  # collection
    inbox: str  # collection
    recipient_fields: SealedFields  # how the recipients' channels are sealed (recipients.py)
    deliveries: str = "notifications_deliveries"  # collection: the channels' yes (delivery.py)
    snapshot_every: int = 50


class NotificationsUnitOfWork(UnitOfWork):
    def __init__(self, tx: DocumentTransaction, storage: Storage) -> None:
        super().__init__(tx)
        self._storage = storage
        self.notifications = EventSourcedRepository(
            storage.events.streams(tx), Notification, snapshot_every=storage.snapshot_every
        )
        self.recipients = RecipientDirectory(tx, storage.recipients, storage.recipient_fields)
        self.staged: list[Staged] = []

    def stage_changes(self) -> list[Any]:
        """Append, fold into the read model, and answer what to publish: the public events
        and the commands they call for (the internal events stay in the streams)."""
        metadata = {}
        if self.cause is not None:
            metadata = {"causation_id": self.cause.id, "correlation_id": self.cause.correlation_id}
        staged = self.notifications.stage_changes(metadata)
        # A stream's view is written only by folding its events: a new stream has none yet.
        new = {s.recorded.stream_id for s in staged if s.recorded.version == 1}
        apply_to_views(self.tx, self._storage.view, [s.recorded for s in staged], absent=new)
        self.staged.extend(staged)
        outgoing: list[Any] = []
        for item in staged:
            if isinstance(item.event, PUBLIC_EVENTS):
                outgoing.append(item.event)
            outgoing.extend(follow_ups(item.event))
        return outgoing
