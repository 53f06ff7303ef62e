"""The names of one bounded context, derived by one rule instead of written per context.

A context called `data_services` publishes its events from `/saludtech/data_services` on
`data-services-events`, takes commands on `data-services-commands`, keeps what died on
`data-services-dead-letter`, and announces a command that can never succeed with its own
CommandRejected event type.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.messages import CommandRejected


@dataclass(frozen=True)
class ContextNames:
    name: str
    rejection: type[CommandRejected]

    @property
    def source(self) -> str:
        return f"/saludtech/{self.name}"

    def topic(self, kind: str) -> str:
        return f"{self.name.replace('_', '-')}-{kind}"

    @property
    def commands_topic(self) -> str:
        return self.topic("commands")

    @property
    def events_topic(self) -> str:
        return self.topic("events")

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("dead-letter")
