"""How a route sends a command to a context's command door and answers its 202: the caller's
Idempotency-Key and correlation id go along (commands.py), the command's fields and its
status URL come back, and the route adds the field naming its subject and its own links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from functions.api.commands import Accepted
from functions.api.context_doors import SUBSCRIPTION_COMMANDS, CommandDoors
from functions.api.guard import current
from functions.api.parameters import CommandHeaders


class CommandFields(TypedDict):
    """What every 202 of the api says of its command."""

    command_id: str
    command_type: str
    correlation_id: str


@dataclass(frozen=True)
class Sent:
    accepted: Accepted
    status_url: str  # /v1/commands/<id>: also the answer's Location

    @property
    def subject(self) -> str:
        return self.accepted.subject

    @property
    def fields(self) -> CommandFields:
        return {
            "command_id": self.accepted.command_id,
            "command_type": str(self.accepted.answer["command_type"]),
            "correlation_id": str(self.accepted.answer.get("correlation_id") or ""),
        }

    @property
    def headers(self) -> dict[str, str]:
        return {"Location": self.status_url}


def send(
    path: str,
    body: dict[str, Any],
    headers: CommandHeaders,
    *,
    to: CommandDoors = SUBSCRIPTION_COMMANDS,
    resource: str,
) -> Sent:
    """POST the command to `to`'s door at `path`; `resource` names its subject in the audit
    log (`{subject}` is filled in)."""
    call = current()
    key = (headers.idempotency_key or "").strip()
    accepted = call.wiring.commands.send(
        call.principal, path, body, key, call.correlation_id, to=to
    )
    call.resource.append(resource.format(subject=accepted.subject))
    return Sent(accepted, f"/v1/commands/{accepted.command_id}")
