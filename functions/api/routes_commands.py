"""A command the caller sent, what became of it, and its timeline (JSON with an ETag, or as
server-sent events: timeline.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask

from functions.api import reads, timeline
from functions.api.commands import SAGAS
from functions.api.context_doors import COMMAND_DOORS, SAGAS_QUERIES
from functions.api.context_views import Timeline, shown
from functions.api.guard import current
from functions.api.parameters import CommandPath, TimelineHeaders
from functions.api.routing import ALL, Routes, With
from functions.identity.messages import Role
from shared.entrypoints.command_door import CommandStatus
from shared.entrypoints.http import HttpError

routes = Routes("commands", "what became of a command you sent")


def _own_command(command_id: str) -> tuple[str, str]:
    """(subject, context) of a command the caller sent (an operator: any)."""
    call = current()
    call.resource.append(f"command/{command_id}")
    found = call.wiring.platform.store.get(call.wiring.commands.collection, command_id)
    mine = found is not None and (
        found["user_id"] == call.principal.user_id or call.principal.role is Role.OPERATOR
    )
    if not mine:
        raise HttpError(404, "command_not_found", "no such command")
    assert found is not None
    return str(found["subject"]), str(found.get("context", ""))


@routes.get(
    "/v1/commands/<id:command_id>", CommandStatus, roles=ALL,
    summary="what became of a command you sent",
)  # fmt: skip
def command(path: CommandPath) -> CommandStatus:
    _, context = _own_command(path.command_id)
    doors = current().wiring.platform.doors
    if context == SAGAS:
        found = reads.saga_command_status(doors, path.command_id)
        return shown(CommandStatus, found, SAGAS_QUERIES)
    status = reads.command_status(doors, path.command_id, context)
    if status is None:
        raise HttpError(404, "command_not_found", "no such command")
    return shown(CommandStatus, status, COMMAND_DOORS[context].queries)


def _composer(command_id: str) -> Callable[[], dict[str, Any]]:
    """The command's timeline, composed again on each call (404 when it is not the
    caller's)."""
    subject, context = _own_command(command_id)
    call = current()
    who, doors = call.principal, call.wiring.platform.doors

    def compose() -> dict[str, Any]:
        found = timeline.timeline(doors, who, command_id, subject, context)
        return shown(Timeline, found, "the timeline's doors").model_dump(mode="json")

    return compose


@routes.get(
    "/v1/commands/<id:command_id>/timeline", Timeline, roles=ALL,
    extra={304: {"description": "unchanged since the ETag sent in If-None-Match"}},
    summary="the command, its subscription, saga and notifications",
)  # fmt: skip
def timeline_of(path: CommandPath, header: TimelineHeaders) -> With | flask.Response:
    composed = _composer(path.command_id)()
    tag = timeline.etag(composed)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if tag in [t.strip() for t in (header.if_none_match or "").split(",")]:
        return flask.Response(status=304, headers=headers)
    return With(Timeline.model_validate(composed), headers)


@routes.get(
    "/v1/commands/<id:command_id>/stream",
    {
        "description": "`event: timeline` (data: a Timeline) each time it changes, "
        "then `event: end`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    roles=ALL,
    summary="the timeline as server-sent events",
)  # fmt: skip
def stream(path: CommandPath) -> flask.Response:
    compose = _composer(path.command_id)
    first = [compose()]  # a 404 is answered before the stream starts

    def next_composition() -> dict[str, Any]:
        return first.pop() if first else compose()

    return flask.Response(
        timeline.server_sent_events(next_composition),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
