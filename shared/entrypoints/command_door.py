"""A context's HTTP command door: one way to take a command over HTTP.

    envelope = door.envelope(request, endpoint, args, build)   # validated command, log context
    ...the context's own existence checks (404 for what will never exist)...
    door.accept_and_publish(envelope, request_digest(endpoint, args, body))
    return door.accepted(envelope, subscription=f"{door.queries_path}/subscriptions/{id}")

The command is recorded in the command log *before* it is published, so its status can
always be read (`pending` → `applied` / `rejected` / `dead_lettered`, ADR 0007), and an
`Idempotency-Key` makes a retried request the same command with the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask

from shared.domain.messages import Command
from shared.entrypoints.http import HttpError, json_response
from shared.logging import bind_message_context, get_logger, trace_from_header
from shared.platform import Platform
from shared.ports.envelope import Envelope, derived_id
from shared.service.command_log import CommandLog
from shared.service.context import ContextNames

log = get_logger(__name__)
MAX_IDEMPOTENCY_KEY = 128


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

    def accepted(self, envelope: Envelope, subject_field: str, **links: str) -> flask.Response:
        """202 with where to read the command's status (and the links given)."""
        status_url = f"{self.queries_path}/commands/{envelope.id}"
        return json_response(
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
