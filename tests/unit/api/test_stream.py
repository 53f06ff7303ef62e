"""The timeline as server-sent events: an event each time it changes, then the end once the
command has settled and stayed so."""

from __future__ import annotations

import json
from typing import Any

from functions.api import timeline


def test_events_follow_changes_and_the_stream_ends_once_settled() -> None:
    states = iter(["pending", "pending", "applied"] + ["applied"] * 100)
    clock = [0.0]

    def compose() -> dict[str, Any]:
        return {"command": {"status": next(states)}}

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    chunks = list(timeline.server_sent_events(compose, lambda: clock[0], sleep))
    events = [c for c in chunks if c.startswith("id: ")]
    assert [json.loads(e.split("data: ", 1)[1])["command"]["status"] for e in events] == [
        "pending", "applied"
    ]  # fmt: skip
    assert chunks[0] == "retry: 2000\n\n"
    assert chunks[-1].startswith("event: end")
    assert clock[0] < timeline.STREAM_SECONDS


def test_a_command_that_never_settles_ends_at_the_time_limit() -> None:
    clock = [0.0]
    chunks = list(
        timeline.server_sent_events(
            lambda: {"command": {"status": "pending"}},
            lambda: clock[0],
            lambda s: clock.__setitem__(0, clock[0] + s),
        )
    )
    assert clock[0] >= timeline.STREAM_SECONDS
    assert sum(c.startswith("id: ") for c in chunks) == 1
