"""The names of one bounded context, derived by one rule instead of written per context.

A context called `data_services` publishes its events from `/saludtech/data_services` on
`data-services-events`, takes commands on `data-services-commands`, keeps what died on
`data-services-dead-letter`, keeps its state in its own Firestore database
`saludtech-data-services`, and announces a command that can never succeed with its own
CommandRejected event type.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.messages import CommandRejected

DATABASE_PREFIX = "saludtech-"


def database_of(context: str) -> str:
    """The Firestore database a context owns (ids need 4 to 63 characters: `api` alone is
    too short, hence the prefix). Terraform creates the same names from the topology."""
    return f"{DATABASE_PREFIX}{context.replace('_', '-')}"


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
    def database(self) -> str:
        return database_of(self.name)

    @property
    def commands_topic(self) -> str:
        return self.topic("commands")

    @property
    def events_topic(self) -> str:
        return self.topic("events")

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("dead-letter")
