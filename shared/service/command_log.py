"""The commands a context's HTTP door accepted, and what became of each.

The door records a command before it publishes it, so its status can always be answered:
`applied` or `rejected` (the inbox record of the consumer), `dead_lettered` (the
dead-letter record), `pending` (accepted, not processed yet), and for an id nobody accepted,
nothing (404). The record also makes an `Idempotency-Key` safe: a retried request with the
same body is the same command; the same key with another body is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError
from shared.ports.documents import DocumentExists, DocumentStore, Filter
from shared.ports.envelope import Envelope
from shared.service.dead_letters import DeadLetterLog
from shared.service.processing import inbox_id


class IdempotencyKeyReused(PermanentError):
    """The same Idempotency-Key came with another request body."""

    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused", "this Idempotency-Key was used with another request"
        )


def request_digest(*parts: Any) -> str:
    """A digest of what a request asked for (route, ids, body), stable across key order."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def processed_status(
    store: DocumentStore, inbox_collection: str, command_id: str
) -> dict[str, Any] | None:
    """A command's outcome as its consumer's inbox recorded it, or None (not processed)."""
    processed = store.get(inbox_collection, inbox_id(command_id))
    if processed is None:
        return None
    return {
        "command_id": command_id,
        "command_type": processed.get("message_type"),
        "status": processed["outcome"],
        "reason": processed.get("reason"),
        "processed_at": processed.get("processed_at"),
        "event_types": processed.get("event_types", []),
        "correlation_id": processed.get("correlation_id"),
    }


@dataclass
class CommandLog:
    store: DocumentStore
    collection: str
    inbox_collection: str
    dead_letters: DeadLetterLog
    clock: Clock

    def accept(self, envelope: Envelope, digest: str) -> bool:
        """Record an accepted command; False when the same request was accepted before.
        IdempotencyKeyReused when its id was accepted for another request."""
        record = {
            "command_id": envelope.id,
            "command_type": envelope.type,
            "subject": envelope.subject,
            "correlation_id": envelope.correlation_id,
            "digest": digest,
            "accepted_at": rfc3339(self.clock()),
        }
        try:
            # Create-if-absent, without reading first: nearly every command id is new, so
            # a read would find nothing, for a request and a billed read per command.
            self.store.run_in_transaction(
                lambda tx: tx.create(self.collection, envelope.id, record)
            )
        except DocumentExists:
            known = self.store.get(self.collection, envelope.id)
            if known is not None and known.get("digest") != digest:
                raise IdempotencyKeyReused() from None
            return False
        return True

    def accepted_for(self, subject: str, command_type: str) -> bool:
        """Whether a command of that type naming that subject was accepted (it may not be
        processed yet: messages arrive in any order)."""
        page = self.store.query(
            self.collection,
            [Filter("subject", "==", subject), Filter("command_type", "==", command_type)],
            limit=1,
        )
        return bool(page.items)

    def status(self, command_id: str) -> dict[str, Any] | None:
        """What became of a command, or None when no such command was ever accepted."""
        processed = processed_status(self.store, self.inbox_collection, command_id)
        if processed is not None:
            return processed
        accepted = self.store.get(self.collection, command_id)
        died = self.dead_letters.of_message(command_id)
        if died is not None:
            return {
                "command_id": command_id,
                "command_type": accepted.get("command_type") if accepted else None,
                "status": "dead_lettered",
                **died,
            }
        if accepted is None:
            return None
        return {
            "command_id": command_id,
            "command_type": accepted["command_type"],
            "status": "pending",
            "accepted_at": accepted["accepted_at"],
            "correlation_id": accepted.get("correlation_id"),
        }
