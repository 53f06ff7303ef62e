"""Commands and events as typed, versioned payloads.

Each message class names its CloudEvent type (`co.saludtech.<context>.<aggregate>.<fact>.v1`)
and is a frozen pydantic model, so a payload is validated when it is built (producer side) and
when it is read (consumer side). Every concrete class registers itself, which is how an
envelope finds the model for its `type`, and how the schemas under shared/schemas/ are exported.

Personal data (names, ids, emails) never travels in clear: a class lists its personal fields
in PERSONAL, and the envelope seals them whenever it is serialized. The exported schemas
describe the logical payload, as handlers see it once the fields are opened.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

TYPE_PATTERN = re.compile(r"^co\.saludtech\.[a-z_]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$")
# A CloudEvents extension attribute name: lower-case letters and digits (spec 1.0, 3.1.1).
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_ENVELOPE_ATTRIBUTES = frozenset(
    {"specversion", "id", "type", "source", "time", "subject", "correlationid", "causationid",
     "datacontenttype", "dataschema"}
)  # fmt: skip  # set by the envelope itself

_registry: dict[str, type[Message]] = {}


class Message(BaseModel):
    """A payload. Subclasses set TYPE; abstract bases leave it empty."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    TYPE: ClassVar[str] = ""
    # Name of the field that identifies the aggregate: it becomes the CloudEvent `subject`.
    SUBJECT_FIELD: ClassVar[str] = ""
    # The personal fields of the payload (dotted paths to strings, e.g. "client.email"):
    # they travel sealed on topics and in stored copies (shared/service/sealed_messages.py).
    PERSONAL: ClassVar[tuple[str, ...]] = ()
    # Top-level fields also sent as CloudEvents extension attributes (`ce-<name>`), so that a
    # trigger's subscription filter can leave out what its function would only drop (a
    # BASIC plan's SubscriptionCreated, for the sagas): the function is not even invoked.
    # Never a personal field: attributes are not sealed.
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("TYPE"):
            return
        if not TYPE_PATTERN.match(cls.TYPE):
            raise ValueError(f"{cls.__name__}.TYPE {cls.TYPE!r} is not a versioned type name")
        existing = _registry.get(cls.TYPE)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"{cls.TYPE} is declared twice ({existing.__name__}, {cls.__name__})")
        _registry[cls.TYPE] = cls

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Once the fields are known: every attribute is a field of its own, not personal."""
        super().__pydantic_init_subclass__(**kwargs)
        for name in cls.ATTRIBUTES:
            if (
                not _ATTRIBUTE_NAME.match(name)
                or name in _ENVELOPE_ATTRIBUTES
                or name not in cls.model_fields
                or any(path.split(".")[0] == name for path in cls.PERSONAL)
            ):
                raise ValueError(f"{cls.__name__}.ATTRIBUTES: {name!r} cannot be an attribute")

    @property
    def subject(self) -> str:
        return str(getattr(self, self.SUBJECT_FIELD)) if self.SUBJECT_FIELD else ""

    @classmethod
    def context(cls) -> str:
        return cls.TYPE.split(".")[2]


class Command(Message):
    """An intention addressed to one context; it may be refused."""

    # True for a command a context records in-process and never publishes on a topic.
    INTERNAL: ClassVar[bool] = False


class Event(Message):
    """A fact that happened; consumers must tolerate duplicates and any order."""


class CommandRejected(Event):
    """The failure event of a context: a command that can never succeed, and why."""

    command_id: str
    command_type: str
    reason: str
    detail: str = ""
    field: str | None = None


def message_class(type_name: str) -> type[Message] | None:
    return _registry.get(type_name)


def registered_messages() -> dict[str, type[Message]]:
    return dict(sorted(_registry.items()))
