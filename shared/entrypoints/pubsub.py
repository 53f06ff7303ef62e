"""The body of every Pub/Sub-triggered function: unwrap, check, handle, map errors.

The retry idiom of Cloud Functions: return (ack) when done or when the message can never
succeed, raise when a retry may help. Each function consumes one message type (its trigger
subscription filters on `ce-type`); a message it cannot read, or of a type it does not
consume, is kept unchanged on the context's dead-letter topic and announced by the
context's failure event, then acknowledged. A dead-letter topic's own function records what
arrives there (shared/service/dead_letters.py).

A message's personal fields are opened with the context's sealer (its platform's) before
its payload is validated; one sealed that does not open is unreadable, like any other.

The functions themselves are not written out: entry_points() makes one per entry of a
context's HANDLERS, named by entry_point_name(), plus the context's dead-letter recorder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from shared.domain.errors import InvalidMessage, TransientError
from shared.domain.messages import Event, Message
from shared.entrypoints.pushed import PushedFunction, pushed_event
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
from shared.service.processing import Consumer, MessageHandler, MessageProcessor
from shared.service.sealed_messages import MessageSealer

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
    sealer: MessageSealer,
) -> None:
    """Run `handle` on the `expects` message inside a messagePublished CloudEvent; `handle`
    returns what became of it (for the log line) and raises TransientError to be retried.
    `sealer` opens its personal fields (the platform's)."""
    try:
        envelope = _read(cloud_event, expects, sealer)
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


def handled_by(
    handler: MessageHandler[Any, Any], processor: MessageProcessor[Any, Any], *services: object
) -> Callable[[Envelope], str]:
    """The `handle` of consume() for an entry of HANDLERS: a Consumer's step on the service
    it belongs to (one of `services`), a Handler through the processor (which runs it)."""
    if isinstance(handler, Consumer):
        return handler.on(*services)
    return processed_by(processor)


# What a context's entry points hand a message to: (the CloudEvent, the type its function
# consumes, the function's name); the context's wiring decides how it is handled.
Consume = Callable[[CloudEventLike, type[Message], str], None]
_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


def entry_point_name(context: str, message_type: type[Message]) -> str:
    """The deployed name of the function of a message type: `<context>_<command>` or
    `<context>_on_<event>`, snake case (AssignExpert in data_services:
    data_services_assign_expert; SagaStuck in notifications: notifications_on_saga_stuck).
    Named after the message, not the handler's function, since one handler may take several
    types (notify, on_reply) and renaming a function must not rename a deployed one."""
    words = _WORD_START.sub("_", message_type.__name__).lower()
    return f"{context}_on_{words}" if issubclass(message_type, Event) else f"{context}_{words}"


def entry_points(
    context: ContextNames,
    handlers: Mapping[type[Message], MessageHandler[Any, Any]],
    consume: Consume,
    dead_letters: Callable[[], DeadLetterLog],
    *,
    renamed: Mapping[type[Message], str] | None = None,
) -> dict[str, PushedFunction]:
    """One Cloud Function per entry of a context's HANDLERS, each consuming its type through
    `consume`, named by entry_point_name() unless `renamed` keeps an older deployed name;
    and the context's dead-letter recorder, `<context>_record_dead_letter`. Each is
    registered with functions-framework under its name, the `--target` that deploys it."""
    renamed = renamed or {}
    stale = [t.__name__ for t in renamed if t not in handlers]
    if stale:
        raise ValueError(f"renamed names types {context.name} does not handle: {stale}")
    made: dict[str, PushedFunction] = {}
    for message_type, handler in handlers.items():
        name = renamed.get(message_type) or entry_point_name(context.name, message_type)
        if name in made:
            raise ValueError(f"two entry points of {context.name} are named {name}")
        made[name] = _consumer(name, message_type, _where(handler), consume)
    recorder = f"{context.name}_record_dead_letter"
    made[recorder] = _recorder(recorder, context, dead_letters)
    return made


def consumed_type(function: object) -> type[Message] | None:
    """The message type a function made by entry_points() consumes (None for anything else)."""
    found = getattr(function, "consumes", None)
    return found if isinstance(found, type) and issubclass(found, Message) else None


def _where(handler: MessageHandler[Any, Any]) -> str:
    function = handler.step if isinstance(handler, Consumer) else handler
    return f"{function.__module__}.{function.__qualname__}"


def _consumer(
    name: str, message_type: type[Message], where: str, consume: Consume
) -> PushedFunction:
    def function(cloud_event: CloudEventLike) -> None:
        consume(cloud_event, message_type, name)

    _name(function, name, consume.__module__, f"{message_type.__name__} → {where}.")
    # What consumed_type() reads (functions-framework's wrapper copies it).
    vars(function)["consumes"] = message_type
    return pushed_event(function)


def _recorder(
    name: str, context: ContextNames, dead_letters: Callable[[], DeadLetterLog]
) -> PushedFunction:
    def function(cloud_event: CloudEventLike) -> None:
        record_dead_letter(cloud_event, function=name, context=context, dead_letters=dead_letters())

    doc = f"Whatever reached {context.dead_letter_topic} → shared/service/dead_letters.py."
    _name(function, name, dead_letters.__module__, doc)
    return pushed_event(function)


def _name(function: Callable[..., None], name: str, module: str, doc: str) -> None:
    # functions-framework registers a function's signature type under its __name__ and
    # finds it by that name, so the name is set before the decorator sees it.
    function.__name__ = function.__qualname__ = name
    function.__module__ = module
    function.__doc__ = doc


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


def _read(cloud_event: CloudEventLike, expects: type[Message], sealer: MessageSealer) -> Envelope:
    if cloud_event["type"] != PUBSUB_PUBLISHED:
        raise InvalidMessage("unexpected_trigger", str(cloud_event["type"])[:120])
    raw, attributes, _ = unwrap_pubsub_push(cloud_event.data)
    # The type first: a message this function does not consume is refused as such, before
    # its payload is judged against a contract that is not its own.
    if attributes.get("ce-type") != expects.TYPE:
        raise InvalidMessage("unsupported_message", "this function consumes another type")
    return Envelope.from_pubsub(raw, attributes, sealer)


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
