"""What died: every message a context gave up on, recorded where an operator can see it.

A message reaches a context's dead-letter topic in two ways: it could not even be read (the
entry point copies it there and has already announced a failure event), or its deliveries
ran out (Pub/Sub forwards it after `max_delivery_attempts`). The dead-letter function of the
context records it here, once however often it is delivered, and in the second case announces
the context's failure event with reason `dead_lettered`, so whoever waits for a reply (a
command's status, a saga) learns that it is over instead of reading "pending" for ever.
The record keeps the message bytes and attributes so that `infra.local dlq redrive` (or an
operator in the cloud) can publish it again; it is never logged.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.clock import Clock, rfc3339
from shared.ports.documents import Document, DocumentStore, DocumentTransaction, Filter
from shared.ports.envelope import Envelope, derived_id
from shared.ports.publishing import EventPublisher
from shared.service.context import ContextNames

COLLECTION = "dead_letters"
# Set by an entry point that dead-letters a message it cannot read (it announced it already).
REJECTION_REASON_ATTRIBUTE = "saludtech-rejection-reason"
DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"


@dataclass(frozen=True)
class DeadMessage:
    """A message as it arrived on a dead-letter topic."""

    data: bytes
    attributes: Mapping[str, str]
    message_id: str

    @property
    def source_subscription(self) -> str | None:
        return self.attributes.get("CloudPubSubDeadLetterSourceSubscription")

    @property
    def delivery_attempts(self) -> int | None:
        count = self.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount", "")
        return int(count) if count.isdigit() else None

    @property
    def reason(self) -> str:
        return self.attributes.get(REJECTION_REASON_ATTRIBUTE) or "delivery_attempts_exhausted"

    @property
    def announced(self) -> bool:
        return REJECTION_REASON_ATTRIBUTE in self.attributes


@dataclass
class DeadLetterLog:
    store: DocumentStore
    collection: str
    publisher: EventPublisher
    clock: Clock

    def record(self, context: ContextNames, message: DeadMessage) -> bool:
        """Record a dead message; False when it was recorded already (a redelivery)."""
        attributes = dict(message.attributes)
        ce_id = attributes.get("ce-id") or None
        doc_id = derived_id("dead-letter", message.source_subscription or "", message.message_id)
        record: Document = {
            "dead_letter_id": doc_id,
            "context": context.name,
            "dead_letter_topic": context.dead_letter_topic,
            "source_subscription": message.source_subscription,
            "delivery_attempts": message.delivery_attempts,
            "message_id": message.message_id,
            "ce_id": ce_id,
            "ce_type": attributes.get("ce-type"),
            "reason": message.reason,
            "data_b64": base64.b64encode(message.data).decode(),
            "attributes": attributes,
            "recorded_at": rfc3339(self.clock()),
            "status": "dead",
            "redriven_at": None,
            "redrive_count": 0,
        }

        def write(tx: DocumentTransaction) -> bool:
            if tx.get(self.collection, doc_id) is not None:
                return False
            tx.create(self.collection, doc_id, record)
            return True

        created = self.store.run_in_transaction(write)
        # Announced again on a redelivery (same event id): the first publish may have failed
        # after the record was committed.
        if not message.announced and ce_id is not None:
            self._announce(context, message, ce_id, doc_id)
        return created

    def _announce(
        self, context: ContextNames, message: DeadMessage, ce_id: str, doc_id: str
    ) -> None:
        attempts = message.delivery_attempts
        failure = context.rejection(
            command_id=ce_id,
            command_type=message.attributes.get("ce-type", "unknown")[:200],
            reason="dead_lettered",
            detail=f"gave up after {attempts} delivery attempts" if attempts else "gave up",
        )
        envelope = Envelope(
            payload=failure,
            source=context.source,
            id=derived_id(doc_id, "announced"),
            correlation_id=message.attributes.get("ce-correlationid", ""),
            causation_id=ce_id,
        )
        self.publisher.publish(context.events_topic, [envelope])

    def of_message(self, ce_id: str) -> dict[str, Any] | None:
        """The dead-letter record of a command or event, by its CloudEvent id."""
        page = self.store.query(self.collection, [Filter("ce_id", "==", ce_id)], limit=1)
        if not page.items:
            return None
        document = page.items[0][1]
        return {k: document.get(k) for k in ("reason", "delivery_attempts", "recorded_at")}
