"""Seedwork of the domain: an aggregate that records the events its decisions produce.

Pure Python: no I/O, no google.* imports, so every context's domain can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.messages import Event


@dataclass(kw_only=True, eq=False)
class Aggregate:
    """A consistency boundary. `version` is the stored version it was loaded at (0: new)."""

    id: str
    version: int = 0
    _pending: list[Event] = field(default_factory=list, init=False, repr=False)

    def record(self, event: Event) -> None:
        self._pending.append(event)

    @property
    def has_changes(self) -> bool:
        return bool(self._pending)

    def pull_events(self) -> list[Event]:
        events, self._pending = self._pending, []
        return events
