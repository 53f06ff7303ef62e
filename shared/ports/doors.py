"""The port through which one context calls another context's HTTP door.

A context's doors (`<context>_queries_http`, `<context>_commands_http`, ...) are its only
surface besides its messages: the public api reaches every context through them and never
through their stores or their code. `target` names the door by its entry point in main.py
(`subscriptions_queries_http`); the adapter turns it into a URL (the function's own in the
cloud, the local functions host's `/<target>` on a laptop) or calls it in-process (unit
tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.errors import TransientError


@dataclass(frozen=True)
class DoorAnswer:
    status: int
    body: Any  # the parsed JSON answer, or None when there is no body
    headers: Mapping[str, str] = field(default_factory=dict)
    # A success of another media type than JSON (DICOM, multipart): its bytes, never parsed,
    # as they arrive, to be read once (`body` is then None); the Content-Type is in headers.
    content: Iterable[bytes] | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> Mapping[str, Any]:
        """The door's refusal in the shared error shape ({} for a success)."""
        if self.ok or not isinstance(self.body, dict):
            return {}
        found = self.body.get("error")
        return found if isinstance(found, dict) else {}


def is_json(content_type: str | None) -> bool:
    """Whether an answer is the JSON a door answers (no type: an empty answer, as before);
    any other success is passed on as `content`."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return media == "application/json"


class DoorUnavailable(TransientError):
    """The door did not answer, or answered 5xx: the caller answers 503, a message retries."""


class Doors(Protocol):
    def call(
        self,
        target: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> DoorAnswer:
        """Call `path` on the door `target`; a 4xx is an answer, a 5xx or no answer raises
        DoorUnavailable."""
        ...
