"""The CloudEvents 1.0 envelope of every command and event, and its Pub/Sub binding.

On Pub/Sub a message uses the binary binding: the context attributes travel as `ce-*`
message attributes and the payload as JSON data. Functions receive it wrapped by Eventarc in a
`google.cloud.pubsub.topic.v1.messagePublished` CloudEvent; `from_eventarc` unwraps that here,
once, for every context. Correlation and causation ids are CloudEvents extension attributes,
carried from each message to the messages it causes.

The personal fields a message declares (Message.PERSONAL) are sealed by the sealer each
serialization is given, and opened by the one each read is given, before the payload is
validated (shared/service/sealed_messages.py). Without one, a message with personal fields
is refused: nothing serializes them in clear.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.domain.clock import rfc3339
from shared.domain.errors import InvalidMessage
from shared.domain.messages import Message, message_class
from shared.service.sealed_messages import NO_KEY, MessageSealer

SPECVERSION = "1.0"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
_REQUIRED = ("id", "type", "source", "specversion")
# Stable namespace for ids derived from other ids, so a retry produces the same event ids.
_DERIVED_IDS = uuid.UUID("6f1c7f0e-8c1b-4d59-9a57-3d5c0b7b2a11")


# What a correlation or causation id may look like. Anything else (free text a client put in
# a header, a name) is replaced, never echoed into events and logs.
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def plain_token(value: str) -> str:
    """`value` if it is a plain token, else empty (the caller then starts a new one)."""
    return value if _PLAIN_TOKEN.match(value) else ""


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(_DERIVED_IDS, "/".join(parts)))


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


@dataclass(frozen=True)
class Envelope:
    payload: Message
    source: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=now_rfc3339)
    correlation_id: str = ""
    causation_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "correlation_id", plain_token(self.correlation_id))
        object.__setattr__(self, "causation_id", plain_token(self.causation_id))
        # A first message starts its own correlation.
        if not self.correlation_id:
            object.__setattr__(self, "correlation_id", self.id)

    @property
    def type(self) -> str:
        return self.payload.TYPE

    @property
    def subject(self) -> str:
        return self.payload.subject

    def caused(self, payload: Message, source: str, index: int = 0) -> Envelope:
        """The envelope of a message this one causes; its id is derived, so it is stable."""
        return Envelope(
            payload=payload,
            source=source,
            id=derived_id(self.id, payload.TYPE, str(index)),
            correlation_id=self.correlation_id,
            causation_id=self.id,
        )

    # -- Pub/Sub binary binding ---------------------------------------------------------
    def to_pubsub(self, sealer: MessageSealer = NO_KEY) -> tuple[bytes, dict[str, str]]:
        attributes = {
            "ce-specversion": SPECVERSION,
            "ce-id": self.id,
            "ce-type": self.type,
            "ce-source": self.source,
            "ce-time": self.time,
            "ce-correlationid": self.correlation_id,
            "content-type": "application/json",
        }
        if self.subject:
            attributes["ce-subject"] = self.subject
        if self.causation_id:
            attributes["ce-causationid"] = self.causation_id
        if self.payload.ATTRIBUTES:
            values = self.payload.model_dump(mode="json", include=set(self.payload.ATTRIBUTES))
            attributes.update({f"ce-{name}": str(value) for name, value in values.items()})
        if not self.payload.PERSONAL:
            return self.payload.model_dump_json().encode(), attributes
        sealed = sealer.seal(self.payload, self.id)
        return json.dumps(sealed, ensure_ascii=False, separators=(",", ":")).encode(), attributes

    @classmethod
    def from_pubsub(
        cls, data: bytes, attributes: Mapping[str, str], sealer: MessageSealer = NO_KEY
    ) -> Envelope:
        ce = {k[3:]: v for k, v in attributes.items() if k.startswith("ce-")}
        missing = [name for name in _REQUIRED if not ce.get(name)]
        if missing:
            raise InvalidMessage("missing_attribute", f"missing ce-{', ce-'.join(missing)}")
        if ce["specversion"] != SPECVERSION:
            raise InvalidMessage("unsupported_specversion", ce["specversion"][:16])
        try:
            body = json.loads(data or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidMessage("malformed_json", "data is not JSON") from error
        return cls._build(ce, body, sealer)

    # -- structured JSON (how envelopes are stored in an outbox) ----------------------------
    def to_json(self, sealer: MessageSealer = NO_KEY) -> dict[str, Any]:
        return {
            "specversion": SPECVERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "correlationid": self.correlation_id,
            "causationid": self.causation_id,
            "datacontenttype": "application/json",
            "data": sealer.seal(self.payload, self.id),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], sealer: MessageSealer = NO_KEY) -> Envelope:
        missing = [name for name in _REQUIRED if not document.get(name)]
        if missing:
            raise InvalidMessage("missing_attribute", f"missing {', '.join(missing)}")
        return cls._build(document, document.get("data"), sealer)

    @classmethod
    def _build(cls, attrs: Mapping[str, Any], body: Any, sealer: MessageSealer) -> Envelope:
        model = message_class(str(attrs["type"]))
        if model is None:
            raise InvalidMessage("unknown_message_type", str(attrs["type"])[:120])
        if isinstance(body, dict):
            # A tolerant reader: fields a newer producer added are ignored, so adding an
            # optional field to a v1 event is a compatible change (see shared/contracts.py).
            body = {k: v for k, v in body.items() if k in model.model_fields}
        return cls(
            payload=parse_payload(model, sealer.open(model, str(attrs["id"]), body)),
            source=str(attrs["source"]),
            id=str(attrs["id"]),
            time=str(attrs.get("time") or now_rfc3339()),
            correlation_id=str(attrs.get("correlationid") or ""),
            causation_id=str(attrs.get("causationid") or ""),
        )


M = TypeVar("M", bound=Message)


def parse_payload(model: type[M], body: Any) -> M:
    """Validate a payload; the error names fields and rules, never the offending values."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = sorted({_describe(e) for e in error.errors(include_input=False)})
        first_field = ".".join(str(p) for p in error.errors()[0]["loc"]) or None
        raise InvalidMessage("schema_violation", "; ".join(problems), field=first_field) from None


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "payload"
    return f"{where}: {error['type']}"


def unwrap_pubsub_push(body: Mapping[str, Any]) -> tuple[bytes, dict[str, str], str]:
    """Data, attributes and message id of a Pub/Sub message inside a messagePublished event."""
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, Mapping):
        raise InvalidMessage("not_a_pubsub_message", "no message in the event data")
    try:
        data = base64.b64decode(message.get("data") or b"", validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidMessage("malformed_data", "message data is not base64") from error
    attributes = {str(k): str(v) for k, v in (message.get("attributes") or {}).items()}
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    return data, attributes, message_id


def from_eventarc(event_type: str, data: Any, sealer: MessageSealer = NO_KEY) -> Envelope:
    """The envelope inside an Eventarc `messagePublished` CloudEvent (type and data)."""
    if event_type != PUBSUB_PUBLISHED:
        raise InvalidMessage("unexpected_trigger", event_type[:120])
    raw, attributes, _ = unwrap_pubsub_push(data)
    return Envelope.from_pubsub(raw, attributes, sealer)
