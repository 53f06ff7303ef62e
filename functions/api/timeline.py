"""What became of a command, as the live page shows it: the command's status and the events
it produced, the subscription it made, the saga's steps and the notifications sent, each
read at its context's query door (reads.py).

Served three ways from one composition: as JSON with an ETag (a poll answered 304 when
nothing changed), and as server-sent events (a gen2 HTTP function streams up to its
timeout; functions have no websockets). The stream ends when the command has settled and
stayed unchanged for a moment, or at STREAM_SECONDS; the page then falls back to polling.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from functions.api import reads
from functions.api.principals import Principal
from shared.domain.errors import TransientError
from shared.entrypoints.http import HttpError
from shared.ports.doors import Doors

STREAM_SECONDS = 25.0
SETTLED_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.3
_SETTLED = {"applied", "rejected", "dead_lettered"}


def timeline(
    doors: Doors, who: Principal, command_id: str, subject: str, context: str = ""
) -> dict[str, Any]:
    if context == "sagas":  # an operator's saga retry: the retry and that saga's log
        return {
            "command": reads.saga_command_status(doors, command_id),
            "subscription": None,
            "saga": reads.saga_steps(doors, subject),
            "notifications": {"available": True, "items": []},
        }
    status = reads.command_status(doors, command_id, context)
    if status is None:
        raise HttpError(404, "command_not_found", "no such command")
    subscription = None
    if subject:
        try:
            subscription = reads.subscription_of(doors, who, subject)
        except HttpError:
            subscription = None  # not stored yet (or not the caller's)
    saga = reads.saga_of(doors, who, subject) if subscription else {"available": True, "steps": []}
    return {
        "command": status,
        "subscription": subscription,
        "saga": saga,
        "notifications": _without_cursor(reads.notifications_of(doors, who)),
    }


def etag(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return 'W/"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def server_sent_events(
    compose: Callable[[], dict[str, Any]],
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """`event: timeline` each time the composition changes; comments keep the line alive."""
    started = monotonic()
    last, settled_at = "", None
    yield "retry: 2000\n\n"
    while monotonic() - started < STREAM_SECONDS:
        try:
            current = compose()
        except (HttpError, TransientError):
            break  # the page polls from here on, and gets the error there
        tag = etag(current)
        if tag != last:
            last, settled_at = tag, None
            yield f"id: {tag}\nevent: timeline\ndata: {json.dumps(current)}\n\n"
        if current["command"]["status"] in _SETTLED:
            settled_at = settled_at if settled_at is not None else monotonic()
            if monotonic() - settled_at >= SETTLED_GRACE_SECONDS:
                break
        yield ": waiting\n\n"
        sleep(POLL_SECONDS)
    yield "event: end\ndata: {}\n\n"


def _without_cursor(page: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in page.items() if k != "next_cursor"}
