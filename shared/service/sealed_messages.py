"""The personal fields of a message travel sealed: on a topic and in a stored copy.

A message class names its personal fields in `Message.PERSONAL` (dotted paths into its
payload, e.g. `client.email`). Wherever an envelope is serialized (shared/ports/envelope.py:
onto Pub/Sub, into an outbox or inbox record) each of them is replaced, in place, by its
FieldCipher token, bound to the envelope's id and the field's path: a sealed value copied
into another message, or onto another field, does not open. Wherever an envelope is read,
they are opened before the payload is validated, so handlers and the exported schemas see
the logical payload.

The sealer is handed down from the platform (functions/bootstrap.py). A process without a
field key (in the cloud: SALUDTECH_FIELD_ENCRYPTION_KEY not mounted) fails closed: it
refuses to serialize a message that declares personal fields, and to read one sealed,
rather than publish or guess in clear.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.domain.errors import InvalidMessage
from shared.domain.messages import Message
from shared.service.field_crypto import SEALED_PREFIX, FieldCipher, FieldCipherError


class FieldKeyMissing(RuntimeError):
    """This process has no field key and was asked to seal or open a personal field: a
    deployment error (the key is not mounted), never the message's fault."""


@dataclass(frozen=True)
class MessageSealer:
    """Seals and opens the PERSONAL fields of payloads with the context's FieldCipher;
    without one (`cipher` None) it refuses them, saying why (`problem`)."""

    cipher: FieldCipher | None
    problem: str = "no field cipher was given"

    @classmethod
    def from_settings(cls, settings: Settings) -> MessageSealer:
        """The process's sealer: its field key, or none (and why) when it has no usable one.
        Not raised here: a process whose messages carry no personal data needs no key."""
        try:
            return cls(FieldCipher.from_settings(settings))
        except ValueError as error:  # MissingSetting included
            return cls(None, str(error))

    def seal(self, payload: Message, envelope_id: str) -> dict[str, Any]:
        """The payload as JSON, each personal field present replaced by its token."""
        body = payload.model_dump(mode="json")
        if not payload.PERSONAL:
            return body
        cipher = self._required(payload.TYPE)
        for path in payload.PERSONAL:
            holder, name = _slot(body, path)
            if holder is not None and isinstance(holder.get(name), str):
                holder[name] = cipher.encrypt(holder[name], _bound(envelope_id, path))
        return body

    def open(self, model: type[Message], envelope_id: str, body: Any) -> Any:
        """`body` (JSON as read, not yet validated) with each sealed personal field opened.
        A value in clear is read as it is: messages published before their fields were
        sealed may still be in flight when this is deployed. One that has the prefix but
        does not open (another key, another message, tampered) is an InvalidMessage: no
        redelivery can open it, so it is rejected as poison."""
        if not model.PERSONAL or not isinstance(body, dict):
            return body
        opened: dict[str, Any] = _copied(body, model.PERSONAL)
        for path in model.PERSONAL:
            holder, name = _slot(opened, path)
            token = holder.get(name) if holder is not None else None
            if holder is None or not isinstance(token, str) or not token.startswith(SEALED_PREFIX):
                continue
            cipher = self._required(model.TYPE)
            try:
                holder[name] = cipher.decrypt(token, _bound(envelope_id, path))
            except FieldCipherError:
                raise InvalidMessage(
                    "sealed_field_unreadable", f"{path} does not open with this key", field=path
                ) from None
        return opened

    def _required(self, message_type: str) -> FieldCipher:
        if self.cipher is None:
            raise FieldKeyMissing(
                f"{message_type} carries personal fields and this process has no field key "
                f"({self.problem}): refusing to handle them in clear"
            )
        return self.cipher


# What serializes without a sealer: messages without personal fields only.
NO_KEY = MessageSealer(None)


def _bound(envelope_id: str, path: str) -> str:
    return f"{envelope_id}/{path}"


def _slot(body: dict[str, Any], path: str) -> tuple[MutableMapping[str, Any] | None, str]:
    """The object holding the field at `path`, and the field's name (None: not there)."""
    *parents, name = path.split(".")
    holder: Any = body
    for part in parents:
        holder = holder.get(part) if isinstance(holder, dict) else None
    return (holder if isinstance(holder, dict) else None), name


def _copied(body: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """`body` with the objects along `paths` copied, so opening never changes what was read."""
    copy = dict(body)
    for path in paths:
        holder = copy
        for part in path.split(".")[:-1]:
            inner = holder.get(part)
            if not isinstance(inner, dict):
                break
            holder[part] = dict(inner)
            holder = holder[part]
    return copy
