"""The error taxonomy every handler and entry point shares.

The split decides what happens to a message: a permanent error can never succeed, so the
message is acknowledged and a failure event says why; a transient error is raised so the
platform redelivers it with backoff, and the dead-letter topic ends the retries.
"""

from __future__ import annotations


class PermanentError(Exception):
    """The message can never succeed as it is: bad schema, unknown plan, invariant broken.

    `reason` is a stable machine-readable code (snake_case); `detail` is for humans and must
    never carry personal data, because it ends up in events and logs.
    """

    def __init__(self, reason: str, detail: str = "", *, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.field = field


class InvalidMessage(PermanentError):
    """The envelope or its payload does not match the contract (schema, type, attributes)."""


class TransientError(Exception):
    """Worth retrying: a dependency is unavailable, an aggregate we need has not arrived yet."""


class ConcurrencyConflict(TransientError):
    """An aggregate changed between read and write; the whole message is processed again."""
