"""Idempotent processing of one message: inbox, state change and outbox in one transaction.

This is the single place where at-least-once, out-of-order delivery is tamed, for every
context. The consumed message id is recorded (the inbox record) in the same transaction as
the aggregates it changed, together with the envelopes it produced (the outbox). The outbox
is published after the commit; a redelivery finds the record and publishes the very same
envelopes again (same ids), changing nothing else. A command that can never succeed is
recorded the same way, with a failure event as its outbox. A context whose messages carry
personal data (SubscriptionCreated's client_email) gives the processor a cipher: the inbox
record then keeps each envelope of its outbox sealed, and a redelivery opens it to publish.
The same cipher seals the messages' personal fields (Message.PERSONAL) in those copies; a
processor without one refuses to record a message that has any.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError
from shared.domain.messages import Command, Message
from shared.ports.documents import DocumentExists, DocumentStore, DocumentTransaction, StaleVersion
from shared.ports.envelope import Envelope
from shared.ports.publishing import EventPublisher
from shared.service.context import ContextNames
from shared.service.field_crypto import FieldCipher, SealedFields
from shared.service.sealed_messages import NO_KEY, MessageSealer
from shared.service.unit_of_work import UnitOfWork

U = TypeVar("U", bound=UnitOfWork)
D = TypeVar("D")
S = TypeVar("S")
# A handler decides with what it is given: the message, the unit of work of its context and
# the context's dependencies (a clock at least), never a global.
Handler = Callable[[Any, U, D], None]
Outcome = Literal["applied", "rejected"]
# Inbox records are kept this long (Firestore's TTL policy deletes them after `expires_at`):
# far longer than Pub/Sub keeps retrying a message (7 days at most).
INBOX_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Consumer(Generic[S]):
    """A message's handler that the MessageProcessor does not run: a step of one of the
    context's services (a method of S given the envelope, e.g. DeliveryService.prepare), for
    work no transaction should hold (reading the catalogue, copying objects, de-identifying,
    sending). The step hands the processor what to record, if anything (that handler is then
    in the context's IN_PROCESS_HANDLERS), and answers what became of the message."""

    step: Callable[[S, Envelope], str]

    def on(self, *services: object) -> Callable[[Envelope], str]:
        """The step of whichever of `services` it is a method of. Looked up on the instance,
        as `service.step` would be, so what a test patches on the instance is what runs."""
        name = self.step.__name__
        for service in services:
            if getattr(type(service), name, None) is self.step:
                bound: Callable[[Envelope], str] = getattr(service, name)
                return bound
        raise LookupError(f"no service given for {self.step.__qualname__}")


# What a context's HANDLERS (and IN_PROCESS_HANDLERS) map a message type to: a Handler the
# MessageProcessor runs in its transaction, or a Consumer that works outside one.
MessageHandler = Handler[U, D] | Consumer[Any]


def processor_handlers(
    *maps: Mapping[type[Message], MessageHandler[U, D]],
) -> dict[type[Message], Handler[U, D]]:
    """What a context's MessageProcessor runs: every Handler of its maps (HANDLERS, then
    IN_PROCESS_HANDLERS). A Consumer is not the processor's to run; what it hands the
    processor has its Handler in IN_PROCESS_HANDLERS."""
    found: dict[type[Message], Handler[U, D]] = {}
    for handlers in maps:
        for message_type, handler in handlers.items():
            if isinstance(handler, Consumer):
                continue
            if message_type in found:
                raise ValueError(f"two processor handlers for {message_type.__name__}")
            found[message_type] = handler
    return found


@dataclass(frozen=True)
class OutboxEntry:
    topic: str
    envelope: Envelope

    def to_document(self, sealer: MessageSealer = NO_KEY) -> dict[str, Any]:
        return {"topic": self.topic, "envelope": self.envelope.to_json(sealer)}

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], sealer: MessageSealer = NO_KEY
    ) -> OutboxEntry:
        envelope = Envelope.from_json(document["envelope"], sealer)
        return cls(topic=document["topic"], envelope=envelope)


@dataclass(frozen=True)
class Processed:
    outcome: Outcome
    outbox: list[OutboxEntry]
    duplicate: bool
    reason: str | None = None

    @property
    def event_types(self) -> list[str]:
        return [entry.envelope.type for entry in self.outbox]


# Deliveries in one instance that would contend for the same documents run one after the
# other: a functions instance serves many requests at once, and transactions that all read a
# document and then write it wait on each other's locks. Production Firestore aborts one of
# them; the emulator can leave every commit hanging for minutes (the PRO saga's two branches
# and their duplicates on one data service, firebase-tools#2452). Striped, so the locks are
# bounded; a thread holds at most one (processing nested in a handler takes none), so two
# threads can never wait on each other's stripes.
_STRIPES = [threading.Lock() for _ in range(64)]
_holding = threading.local()


@contextlib.contextmanager
def _serialized(key: str) -> Iterator[None]:
    if not key or getattr(_holding, "stripe", False):
        yield
        return
    with _STRIPES[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(_STRIPES)]:
        _holding.stripe = True
        try:
            yield
        finally:
            _holding.stripe = False


_ENVELOPE = ("envelope",)


def stored_outbox(
    outbox: list[OutboxEntry], cipher: FieldCipher | None, record_id: str
) -> list[dict[str, Any]]:
    """The outbox as an inbox record keeps it: each envelope sealed (bound to the record and
    its place in the outbox) when a cipher is given, else in clear."""
    documents = [entry.to_document(_sealer(cipher)) for entry in outbox]
    if cipher is None:
        return documents
    return [seal_outbox_entry(cipher, record_id, i, d) for i, d in enumerate(documents)]


def seal_outbox_entry(
    cipher: FieldCipher, record_id: str, index: int, document: Mapping[str, Any]
) -> dict[str, Any]:
    """One stored outbox entry with its envelope sealed (one sealed already: unchanged)."""
    if "envelope" not in document:
        return dict(document)
    clear = {**document, "envelope": json.dumps(document["envelope"], separators=(",", ":"))}
    return SealedFields(cipher, _ENVELOPE).seal(f"{record_id}/outbox/{index}", clear)


def recorded_outbox(
    record: Mapping[str, Any], cipher: FieldCipher | None, record_id: str
) -> list[OutboxEntry]:
    """The outbox an inbox record keeps, sealed or (recorded before, or no cipher) clear."""
    entries = []
    for index, stored in enumerate(record.get("outbox", [])):
        document = stored
        if cipher is not None:
            opened = SealedFields(cipher, _ENVELOPE).open(f"{record_id}/outbox/{index}", stored)
            if isinstance(opened["envelope"], str):
                document = {**opened, "envelope": json.loads(opened["envelope"])}
        entries.append(OutboxEntry.from_document(document, _sealer(cipher)))
    return entries


def _sealer(cipher: FieldCipher | None) -> MessageSealer:
    return MessageSealer(cipher, "its MessageProcessor was given no outbox_cipher")


def inbox_id(message_id: str) -> str:
    # Firestore ids cannot hold "/" and are at most 1500 bytes; a digest is safe for any id.
    safe = message_id.replace("/", "_")
    return safe if len(safe) <= 200 else hashlib.sha256(message_id.encode()).hexdigest()


@dataclass
class MessageProcessor(Generic[U, D]):
    consumer: str  # who consumes: one inbox per consumer, so two consumers of a topic differ
    context: ContextNames  # where what it emits goes, and its failure event
    inbox_collection: str
    store: DocumentStore
    publisher: EventPublisher
    make_uow: Callable[[DocumentTransaction], U]
    handlers: Mapping[type[Message], Handler[U, D]]
    deps: D
    clock: Clock
    # Documents the handler of a message will read, fetched with the inbox record in one
    # round trip (a latency optimisation only: the handler reads them as usual).
    prefetch: Callable[[Envelope], list[tuple[str, str]]] = lambda envelope: []
    # What two messages share when they change the same state ("" or None: nothing): such
    # messages are processed one at a time per instance.
    serialize_by: Callable[[Envelope], str] | None = None
    # Seals the envelopes its inbox records keep (None: kept in clear, for a context whose
    # messages carry no personal data).
    outbox_cipher: FieldCipher | None = None

    # Two deliveries of one message racing each other: the loser finds the winner's record
    # on its next attempt and answers as a duplicate; a write based on a stale read reads
    # afresh. Contention the store already retried (TransactionContended) is not retried
    # again here: it goes back to Pub/Sub, whose redelivery backs off.
    @retry(
        retry=retry_if_exception_type((DocumentExists, StaleVersion)),
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(multiplier=0.02, max=0.5),
        reraise=True,
    )
    def process(self, envelope: Envelope) -> Processed:
        key = self.serialize_by(envelope) if self.serialize_by else ""
        with _serialized(f"{self.consumer}/{key}" if key else ""):
            try:
                result = self.store.run_in_transaction(lambda tx: self._apply(tx, envelope))
            except PermanentError as error:
                refusal = error
                result = self.store.run_in_transaction(
                    lambda tx: self._reject(tx, envelope, refusal)
                )
        self.publish(result.outbox)
        return result

    @property
    def source(self) -> str:
        return self.context.source

    def publish(self, outbox: list[OutboxEntry]) -> None:
        by_topic: dict[str, list[Envelope]] = {}
        for entry in outbox:
            by_topic.setdefault(entry.topic, []).append(entry.envelope)
        for topic, envelopes in by_topic.items():
            self.publisher.publish(topic, envelopes)

    # -- inside the transaction ----------------------------------------------------------
    def _apply(self, tx: DocumentTransaction, envelope: Envelope) -> Processed:
        known = self._recorded(tx, envelope)
        if known is not None:
            return known
        handler = self.handlers.get(type(envelope.payload))
        if handler is None:
            raise PermanentError("unsupported_message", f"{self.consumer} does not handle it")
        uow = self.make_uow(tx)
        uow.cause = envelope
        handler(envelope.payload, uow, self.deps)
        events = uow.stage_changes()
        # A handler may issue a command to its own context (a follow-up step): it travels on
        # the context's commands topic, events on its events topic.
        outbox = [
            OutboxEntry(
                self.context.commands_topic
                if isinstance(event, Command)
                else self.context.events_topic,
                envelope.caused(event, self.source, index),
            )
            for index, event in enumerate(events)
        ]
        outbox.extend(OutboxEntry(topic, sent) for topic, sent in uow.dispatched())
        self._record(tx, envelope, "applied", outbox)
        return Processed("applied", outbox, duplicate=False)

    def _reject(
        self, tx: DocumentTransaction, envelope: Envelope, error: PermanentError
    ) -> Processed:
        known = self._recorded(tx, envelope)
        if known is not None:
            return known
        failure = self.context.rejection(
            command_id=envelope.id,
            command_type=envelope.type,
            reason=error.reason,
            detail=error.detail,
            field=error.field,
        )
        outbox = [OutboxEntry(self.context.events_topic, envelope.caused(failure, self.source))]
        self._record(tx, envelope, "rejected", outbox, reason=error.reason)
        return Processed("rejected", outbox, duplicate=False, reason=error.reason)

    def _recorded(self, tx: DocumentTransaction, envelope: Envelope) -> Processed | None:
        inbox_key = (self.inbox_collection, inbox_id(envelope.id))
        record = tx.get_many([inbox_key, *self.prefetch(envelope)])[0]
        if record is None:
            return None
        outbox = recorded_outbox(record, self.outbox_cipher, inbox_key[1])
        return Processed(record["outcome"], outbox, duplicate=True, reason=record.get("reason"))

    def _record(
        self,
        tx: DocumentTransaction,
        envelope: Envelope,
        outcome: Outcome,
        outbox: list[OutboxEntry],
        reason: str | None = None,
    ) -> None:
        record_id = inbox_id(envelope.id)
        tx.create(
            self.inbox_collection,
            record_id,
            {
                "consumer": self.consumer,
                "message_id": envelope.id,
                "message_type": envelope.type,
                "subject": envelope.subject,
                "correlation_id": envelope.correlation_id,
                "outcome": outcome,
                "reason": reason,
                "processed_at": rfc3339(now := self.clock()),
                "expires_at": now + INBOX_RETENTION,
                "event_types": [entry.envelope.type for entry in outbox],
                "outbox": stored_outbox(outbox, self.outbox_cipher, record_id),
            },
        )
