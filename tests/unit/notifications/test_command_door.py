"""The notifications' HTTP command door is the shared one (shared/entrypoints/command_door.py):
a channel preference change is recorded before it is published, its status can be read,
and an Idempotency-Key makes a retry the same command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import functions_framework

from functions.bootstrap import InMemoryPlatform
from functions.notifications.messages import NAMES
from tests.unit.notifications.helpers import Bus

MAIN = str(Path(__file__).parents[3] / "main.py")
CHANNELS = {"channels": [{"channel": "email", "address": "center@example.com"}]}


def client(target: str) -> Any:
    return functions_framework.create_app(target, MAIN).test_client()  # type: ignore[no-untyped-call]


def test_a_channels_command_is_accepted_then_applied_and_its_status_is_readable(
    platform: InMemoryPlatform, bus: Bus
) -> None:
    answer = client("notifications_commands_http").put(
        "/recipients/center-hospital-1/channels", json=CHANNELS
    )
    assert answer.status_code == 202
    accepted = answer.get_json()
    assert accepted["recipient_id"] == "center-hospital-1"
    status_url = accepted["links"]["command"]
    assert answer.headers["Location"] == status_url
    queries = client("notifications_queries_http")
    path = status_url.removeprefix("/notifications_queries_http")
    assert queries.get(path).get_json()["status"] == "pending"

    assert bus.run() == 1

    assert queries.get(path).get_json()["status"] == "applied"
    assert queries.get("/commands/no-such-command").status_code == 404


def test_an_idempotency_key_makes_a_retry_the_same_command_and_refuses_another_body(
    platform: InMemoryPlatform,
) -> None:
    door = client("notifications_commands_http")
    headers = {"Idempotency-Key": "prefs-1"}
    first = door.put("/recipients/center-1/channels", json=CHANNELS, headers=headers)
    again = door.put("/recipients/center-1/channels", json=CHANNELS, headers=headers)
    assert first.get_json()["command_id"] == again.get_json()["command_id"]
    other = door.put("/recipients/center-1/channels", json={"channels": []}, headers=headers)
    assert other.status_code == 422
    assert other.get_json()["error"]["reason"] == "idempotency_key_reused"
    published = platform.publisher.messages(NAMES.commands_topic)
    assert {e.id for e in published} == {first.get_json()["command_id"]}
