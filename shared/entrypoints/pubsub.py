"""The body of every Pub/Sub-triggered function: unwrap, process, map errors to the platform.

The retry idiom of Cloud Functions: return (ack) when done or when the message can never
succeed, raise when a retry may help. A message that cannot even be read is kept, unchanged,
on the context's dead-letter topic and announced by a failure event, then acknowledged.
"""

from __future__ import annotations

from typing import Any

from shared.envelope import Envelope, derived_id, from_eventarc, unwrap_pubsub_push
from shared.errors import InvalidMessage, TransientError
from shared.logging import bind_message_context, get_logger
from shared.ports import RawPublisher
from shared.processing import MessageProcessor

log = get_logger(__name__)


def process_pubsub_event(
    cloud_event: Any,
    processor: MessageProcessor[Any],
    *,
    dead_letter_topic: str,
    raw_publisher: RawPublisher,
    function: str,
) -> None:
    event_type, data = cloud_event["type"], cloud_event.data
    try:
        envelope = from_eventarc(event_type, data)
    except InvalidMessage as error:
        _quarantine(
            cloud_event,
            error,
            processor,
            dead_letter_topic=dead_letter_topic,
            raw_publisher=raw_publisher,
            function=function,
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
        result = processor.process(envelope)
    except TransientError as error:
        log.warning("message_retry", error=type(error).__name__, detail=str(error)[:200])
        raise
    log.info(
        "message_processed",
        outcome=result.outcome,
        duplicate=result.duplicate,
        reason=result.reason,
        emitted=result.event_types,
    )


def keep_unreadable(
    cloud_event: Any, error: InvalidMessage, raw_publisher: RawPublisher, dead_letter_topic: str
) -> tuple[dict[str, str], str]:
    """Copy a message that cannot be read, unchanged, to the dead-letter topic with the
    reason beside it; retrying cannot help, and a human may still want it. Returns its
    attributes and message id."""
    try:
        raw, attributes, message_id = unwrap_pubsub_push(cloud_event.data)
    except InvalidMessage:
        raw, attributes, message_id = b"", {}, str(cloud_event["id"])
    attributes = {**attributes, "saludtech-rejection-reason": error.reason}
    raw_publisher.publish_raw(dead_letter_topic, raw, attributes)
    return attributes, message_id


def _quarantine(
    cloud_event: Any,
    error: InvalidMessage,
    processor: MessageProcessor[Any],
    *,
    dead_letter_topic: str,
    raw_publisher: RawPublisher,
    function: str,
) -> None:
    attributes, message_id = keep_unreadable(cloud_event, error, raw_publisher, dead_letter_topic)
    bind_message_context(function=function, message_id=message_id)
    failure = processor.rejection(
        command_id=attributes.get("ce-id") or message_id,
        command_type=attributes.get("ce-type", "unknown")[:200],
        reason=error.reason,
        detail=error.detail,
        field=error.field,
    )
    envelope = Envelope(
        payload=failure,
        source=processor.source,
        id=derived_id(message_id, "unreadable"),
        correlation_id=attributes.get("ce-correlationid", ""),
        causation_id=attributes.get("ce-id", ""),
    )
    processor.publisher.publish(processor.events_topic, [envelope])
    log.warning(
        "message_rejected",
        reason=error.reason,
        detail=error.detail[:300],
        dead_letter_topic=dead_letter_topic,
    )
