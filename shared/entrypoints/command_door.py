"""A context's HTTP command door: one way to take a command over HTTP.

    @commands.post("/subscriptions/<id>/plan",
                   responses=answers(SubscriptionAccepted, *COMMAND_REFUSALS, status=202))
    def change_plan(path: SubscriptionPath, body: NewPlan, query: NoParameters, header: ...):
        door = CommandDoor(NAMES, w.commands, w.platform)
        envelope = door.envelope(flask.request, "change_plan", path_args, build)
        ...the context's own existence checks (404 for what will never exist)...
        door.accept_and_publish(envelope, request_digest("change_plan", path_args, raw_body))
        return door.accepted(envelope, SubscriptionAccepted, "subscription_id", subscription=...)

The command is recorded in the command log *before* it is published, so its status can
always be read (`pending` → `applied` / `rejected` / `dead_lettered`, ADR 0007) at the
queries door's `GET /commands/<id>` (`add_command_status_route`), and an `Idempotency-Key`
makes a retried request the same command with the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import flask
from flask_openapi3.openapi import OpenAPI
from pydantic import BaseModel, ConfigDict, Field

from shared.domain.messages import Command
from shared.domain.read_models import ReadModel
from shared.entrypoints.door_app import DocumentId, NoParameters, answer, answers, or_not_found
from shared.entrypoints.http import HttpError
from shared.logging import bind_message_context, get_logger, trace_from_header
from shared.platform import Platform
from shared.ports.envelope import Envelope, derived_id
from shared.service.command_log import CommandLog
from shared.service.context import ContextNames

log = get_logger(__name__)
MAX_IDEMPOTENCY_KEY = 128
_LOCATION = {"description": "where to read the command's status", "schema": {"type": "string"}}


class Accepted(ReadModel):
    """202 of a command: accepted, recorded and published; its status is at `links.command`
    (also the `Location` header). Each door adds the field naming the command's subject and
    the links of what it will change."""

    model_config = ConfigDict(openapi_extra={"headers": {"Location": _LOCATION}})  # type: ignore[typeddict-unknown-key]

    command_id: str
    command_type: str
    correlation_id: str
    status: Literal["accepted"]


class CommandHeaders(BaseModel):
    """What a command request may carry besides its body (other headers pass)."""

    model_config = ConfigDict(extra="allow")

    idempotency_key: str | None = Field(
        None,
        alias="Idempotency-Key",
        description=f"at most {MAX_IDEMPOTENCY_KEY} characters: the same key with the same "
        "body is the same command (same ids); with another body, 422 idempotency_key_reused",
    )
    correlation_id: str | None = Field(
        None,
        alias="X-Correlation-ID",
        description="carried onto the command and what it causes; replaced if not a plain token",
    )


# What a command door may refuse: a bad request, a target that will never exist, a body too
# large or not JSON, an Idempotency-Key reused with another body, a store that is down.
COMMAND_REFUSALS = (400, 404, 413, 415, 422, 503)


class CommandLink(ReadModel):
    command: str


class CommandStatus(ReadModel):
    """What became of an accepted command: `pending`, then `applied` or `rejected` (with the
    reason) as its consumer recorded it, or `dead_lettered` when its retries ran out."""

    command_id: str
    command_type: str | None
    status: Literal["pending", "applied", "rejected", "dead_lettered"]
    correlation_id: str | None = None
    accepted_at: str | None = None
    processed_at: str | None = None
    event_types: list[str] = Field(default_factory=list)
    reason: str | None = None
    delivery_attempts: int | None = None
    recorded_at: str | None = None


class CommandPath(BaseModel):
    command_id: DocumentId


def add_command_status_route(
    app: OpenAPI, status_of: Callable[[str], dict[str, Any] | None]
) -> None:
    """GET /commands/<command_id> on a queries door: `status_of(id)`, or 404
    command_not_found for an id nobody accepted."""

    @app.get("/commands/<command_id>", responses=answers(CommandStatus, 400, 404, 503))
    def command_status(path: CommandPath, query: NoParameters) -> flask.Response:
        """What became of a command."""
        found = status_of(path.command_id)
        return answer(CommandStatus, or_not_found(found, "command_not_found", "no such command"))


@dataclass(frozen=True)
class CommandDoor:
    """The door of the function `<context>_commands_http`; a command's status is read at
    `/<context>_queries_http/commands/<id>`."""

    context: ContextNames
    commands: CommandLog
    platform: Platform

    @property
    def function(self) -> str:
        return f"{self.context.name}_commands_http"

    @property
    def queries_path(self) -> str:
        return f"/{self.context.name}_queries_http"

    def command_id(self, request: flask.Request, endpoint: str, args: dict[str, Any]) -> str:
        """Random, or with an Idempotency-Key derived from it: the same request again is the
        same command."""
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise HttpError(
                400, "invalid_idempotency_key", f"at most {MAX_IDEMPOTENCY_KEY} characters"
            )
        scope = self.context.topic("http")
        return derived_id(scope, endpoint, str(args), key or str(uuid.uuid4()))

    def envelope(
        self,
        request: flask.Request,
        endpoint: str,
        args: dict[str, Any],
        build: Callable[[str], Command],
    ) -> Envelope:
        """The command `build(command_id)` validated (it raises for a bad request), in its
        envelope, with the log context bound to it."""
        command_id = self.command_id(request, endpoint, args)
        envelope = Envelope(
            payload=build(command_id),
            source=self.context.source,
            id=command_id,
            correlation_id=request.headers.get("X-Correlation-ID", ""),
        )
        trace = request.headers.get("X-Cloud-Trace-Context")
        bind_message_context(
            function=self.function,
            correlation_id=envelope.correlation_id,
            message_id=envelope.id,
            message_type=envelope.type,
            trace=trace_from_header(trace, self.platform.settings.project_id) or "",
        )
        return envelope

    def accept_and_publish(self, envelope: Envelope, digest: str) -> None:
        """Record, then publish (a retried request publishes again: consumers dedupe)."""
        self.commands.accept(envelope, digest)
        self.platform.publisher.publish(self.context.commands_topic, [envelope])
        log.info("command_accepted")

    def accepted(
        self, envelope: Envelope, model: type[Accepted], subject_field: str, **links: str
    ) -> flask.Response:
        """202 as `model`, with where to read the command's status (and the links given)."""
        status_url = f"{self.queries_path}/commands/{envelope.id}"
        return answer(
            model,
            {
                "command_id": envelope.id,
                "command_type": envelope.type,
                subject_field: envelope.subject,
                "correlation_id": envelope.correlation_id,
                "status": "accepted",
                "links": {"command": status_url, **links},
            },
            status=202,
            headers={"Location": status_url},
        )
