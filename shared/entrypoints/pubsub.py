"""The body of every Pub/Sub-triggered function: unwrap, check, handle, map errors.

The retry idiom of Cloud Functions: return (ack) when done or when the message can never
succeed, raise when a retry may help. Each function consumes one message type (its trigger
subscription filters on `ce-type`); a message it cannot read, or of a type it does not
consume, is kept unchanged on the context's dead-letter topic and announced by the
context's failure event, then acknowledged. A dead-letter topic's own function records what
arrives there (shared/service/dead_letters.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from shared.domain.errors import InvalidMessage, TransientError
from shared.domain.messages import Message
from shared.logging import bind_message_context, get_logger
from shared.ports.envelope import (
    PUBSUB_PUBLISHED,
    Envelope,
    derived_id,
    unwrap_pubsub_push,
)
from shared.ports.publishing import Publisher
from shared.service.context import ContextNames
from shared.service.dead_letters import REJECTION_REASON_ATTRIBUTE, DeadLetterLog, DeadMessage
from shared.service.processing import MessageProcessor

log = get_logger(__name__)


class CloudEventLike(Protocol):
    """What functions-framework hands a CloudEvent function: attributes and data."""

    data: Any

    def __getitem__(self, key: str) -> Any: ...


def consume(
    cloud_event: CloudEventLike,
    expects: type[Message],
    handle: Callable[[Envelope], str],
    *,
    function: str,
    context: ContextNames,
    publisher: Publisher,
) -> None:
    """Run `handle` on the `expects` message inside a messagePublished CloudEvent; `handle`
    returns what became of it (for the log line) and raises TransientError to be retried."""
    try:
        envelope = _read(cloud_event, expects)
    except InvalidMessage as error:
        _keep_unreadable(
            cloud_event, error, function=function, context=context, publisher=publisher
        )
        return
    bind_message_context(
        function=function,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        message_id=envelope.id,
        message_type=envelope.type,
    )
    try:
        outcome = handle(envelope)
    except TransientError as error:
        log.warning("message_retry", error=type(error).__name__, detail=str(error)[:200])
        raise
    log.info("message_processed", outcome=outcome)


def processed_by(processor: MessageProcessor[Any, Any]) -> Callable[[Envelope], str]:
    """The usual `handle` of consume(): the context's idempotent processor, its outcome."""
    return lambda envelope: processor.process(envelope).outcome


def record_dead_letter(
    cloud_event: CloudEventLike,
    *,
    function: str,
    context: ContextNames,
    dead_letters: DeadLetterLog,
) -> None:
    """The body of a context's dead-letter function."""
    if cloud_event["type"] != PUBSUB_PUBLISHED:
        log.warning("unexpected_trigger", function=function)
        return
    try:
        raw, attributes, message_id = unwrap_pubsub_push(cloud_event.data)
    except InvalidMessage as error:
        raw, attributes, message_id = b"", {REJECTION_REASON_ATTRIBUTE: error.reason}, ""
    message = DeadMessage(raw, attributes, message_id or str(cloud_event["id"]))
    bind_message_context(
        function=function,
        message_id=message.message_id,
        message_type=attributes.get("ce-type", "")[:200],
        correlation_id=attributes.get("ce-correlationid", "")[:64],
    )
    created = dead_letters.record(context, message)
    log.warning(
        "dead_letter_recorded",
        reason=message.reason,
        delivery_attempts=message.delivery_attempts,
        source_subscription=message.source_subscription,
        duplicate=not created,
    )


def _read(cloud_event: CloudEventLike, expects: type[Message]) -> Envelope:
    if cloud_event["type"] != PUBSUB_PUBLISHED:
        raise InvalidMessage("unexpected_trigger", str(cloud_event["type"])[:120])
    raw, attributes, _ = unwrap_pubsub_push(cloud_event.data)
    # The type first: a message this function does not consume is refused as such, before
    # its payload is judged against a contract that is not its own.
    if attributes.get("ce-type") != expects.TYPE:
        raise InvalidMessage("unsupported_message", "this function consumes another type")
    return Envelope.from_pubsub(raw, attributes)


def _keep_unreadable(
    cloud_event: CloudEventLike,
    error: InvalidMessage,
    *,
    function: str,
    context: ContextNames,
    publisher: Publisher,
) -> None:
    """Copy a message that cannot be read, unchanged, to the dead-letter topic with the
    reason beside it (retrying cannot help, and a human may still want it), and announce
    it with the context's failure event."""
    try:
        raw, attributes, message_id = unwrap_pubsub_push(cloud_event.data)
    except InvalidMessage:
        raw, attributes, message_id = b"", {}, ""
    message_id = message_id or str(cloud_event["id"])
    attributes = {**attributes, REJECTION_REASON_ATTRIBUTE: error.reason}
    publisher.publish_raw(context.dead_letter_topic, raw, attributes)
    bind_message_context(function=function, message_id=message_id)
    failure = context.rejection(
        command_id=attributes.get("ce-id") or message_id,
        command_type=attributes.get("ce-type", "unknown")[:200],
        reason=error.reason,
        detail=error.detail,
        field=error.field,
    )
    envelope = Envelope(
        payload=failure,
        source=context.source,
        id=derived_id(message_id, "unreadable"),
        correlation_id=attributes.get("ce-correlationid", ""),
        causation_id=attributes.get("ce-id", ""),
    )
    publisher.publish(context.events_topic, [envelope])
    log.warning(
        "message_rejected",
        reason=error.reason,
        detail=error.detail[:300],
        dead_letter_topic=context.dead_letter_topic,
    )
