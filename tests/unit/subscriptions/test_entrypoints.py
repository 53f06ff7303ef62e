"""The three functions as the platform calls them: HTTP requests and Eventarc CloudEvents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.subscriptions.entrypoints import ENTRY_POINTS
from functions.subscriptions.messages import NAMES
from shared.domain.errors import TransientError
from shared.ports.envelope import Envelope
from tests.support.cloud_events import pubsub_event, pushed
from tests.support.delivery import deliver, function_for
from tests.support.functions import function_client as client
from tests.unit.subscriptions.factories import CLIENT

subscriptions_create_subscription = ENTRY_POINTS["subscriptions_create_subscription"]


def deliver_commands(p: InMemoryPlatform) -> None:
    """Play Pub/Sub + Eventarc: hand every published command to the function."""
    for envelope in p.publisher.messages(NAMES.commands_topic):
        deliver(NAMES.commands_topic, envelope)
    p.publisher.clear_topic(NAMES.commands_topic)


def test_create_answers_202_with_where_to_look(platform: InMemoryPlatform) -> None:
    response = client("subscriptions_commands_http").post(
        "/subscriptions", json={"client": CLIENT, "plan": "PRO"}
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "accepted"
    assert response.headers["Location"] == body["links"]["command"]
    [command] = platform.publisher.messages(NAMES.commands_topic)
    assert command.id == body["command_id"] and command.subject == body["subscription_id"]

    deliver_commands(platform)
    queries = client("subscriptions_queries_http")
    status = queries.get(f"/commands/{body['command_id']}").get_json()
    assert status["status"] == "applied"
    assert status["event_types"] == ["co.saludtech.subscriptions.subscription.created.v1"]
    view = queries.get(f"/subscriptions/{body['subscription_id']}").get_json()
    assert view["status"] == "PENDING_PAYMENT" and view["plan"]["code"] == "PRO"
    assert "rut" not in view["client"] and "national_id" not in view["client"]


def test_full_lifecycle_over_http(platform: InMemoryPlatform) -> None:
    commands = client("subscriptions_commands_http")
    sid = commands.post("/subscriptions", json={"client": CLIENT, "plan": "BASIC"}).get_json()[
        "subscription_id"
    ]
    deliver_commands(platform)
    assert (
        commands.post(f"/subscriptions/{sid}/payments", json={"card_token": "tok_visa"}).status_code
        == 202
    )
    assert (
        commands.post(f"/subscriptions/{sid}/plan", json={"plan": "ENTERPRISE"}).status_code == 202
    )
    deliver_commands(platform)
    assert (
        commands.post(f"/subscriptions/{sid}/cancel", json={"reason": "moving"}).status_code == 202
    )
    deliver_commands(platform)
    types = [t.rsplit(".", 2)[-2] for t in platform.publisher.types(NAMES.events_topic)]
    assert types == ["created", "paid", "plan_changed", "cancelled"]
    listing = client("subscriptions_queries_http").get("/subscriptions?client_code=0001").get_json()
    assert [s["subscription_id"] for s in listing["items"]] == [sid]


def test_idempotency_key_makes_a_retried_request_the_same_command(
    platform: InMemoryPlatform,
) -> None:
    commands = client("subscriptions_commands_http")
    headers = {"Idempotency-Key": "order-42"}
    first = commands.post(
        "/subscriptions", json={"client": CLIENT, "plan": "PRO"}, headers=headers
    ).get_json()
    second = commands.post(
        "/subscriptions", json={"client": CLIENT, "plan": "PRO"}, headers=headers
    ).get_json()
    assert first["command_id"] == second["command_id"]
    assert first["subscription_id"] == second["subscription_id"]
    deliver_commands(platform)
    # the duplicate republished the very same event: consumers see one fact
    assert len({e.id for e in platform.publisher.messages(NAMES.events_topic)}) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/subscriptions", {"client": CLIENT, "plan": "GOLD"}, 400, "unknown_plan"),
        (
            "/subscriptions",
            {"client": {**CLIENT, "email": "nope"}, "plan": "PRO"},
            400,
            "invalid_email",
        ),
        ("/subscriptions", {"client": {"code": "1"}, "plan": "PRO"}, 400, "schema_violation"),
        ("/subscriptions", {"client": CLIENT, "plan": "PRO", "extra": 1}, 400, "schema_violation"),
        ("/subscriptions", [1, 2], 400, "schema_violation"),
        ("/subscriptions/abc/plan", {"plan": "NOPE"}, 400, "unknown_plan"),
        ("/subscriptions/abc/payments", {}, 400, "schema_violation"),
        ("/nowhere", {}, 404, "not_found"),
    ],
)
def test_bad_requests_get_a_reason_and_publish_nothing(
    platform: InMemoryPlatform, path: str, body: Any, status: int, reason: str
) -> None:
    response = client("subscriptions_commands_http").post(path, json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["reason"] == reason
    assert platform.publisher.messages(NAMES.commands_topic) == []


def test_errors_never_echo_personal_data(platform: InMemoryPlatform) -> None:
    secret = "Zxqwv@@notanemail"
    response = client("subscriptions_commands_http").post(
        "/subscriptions", json={"client": {**CLIENT, "email": secret}, "plan": "PRO"}
    )
    assert secret not in response.get_data(as_text=True)


def test_body_limits_and_media_type(platform: InMemoryPlatform) -> None:
    commands = client("subscriptions_commands_http")
    big = commands.post("/subscriptions", data="x" * 70_000, content_type="application/json")
    assert (big.status_code, big.get_json()["error"]["reason"]) == (413, "body_too_large")
    text = commands.post("/subscriptions", data="hello", content_type="text/plain")
    assert text.status_code == 415
    broken = commands.post("/subscriptions", data="{", content_type="application/json")
    assert broken.get_json()["error"]["reason"] == "malformed_json"


def test_query_errors(platform: InMemoryPlatform) -> None:
    queries = client("subscriptions_queries_http")
    assert queries.get("/subscriptions/none").status_code == 404
    assert queries.get("/subscriptions").get_json()["error"]["reason"] == "missing_parameter"
    assert (
        queries.get("/subscriptions?client_code=1&limit=0").get_json()["error"]["reason"]
        == "invalid_limit"
    )
    assert (
        queries.get("/subscriptions?client_code=1&cursor=%%%").get_json()["error"]["reason"]
        == "invalid_cursor"
    )
    unknown = queries.get("/commands/unknown")
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["reason"] == "command_not_found"


def test_pagination_walks_every_subscription_of_a_client(platform: InMemoryPlatform) -> None:
    commands = client("subscriptions_commands_http")
    for _ in range(5):
        commands.post("/subscriptions", json={"client": CLIENT, "plan": "PRO"})
    deliver_commands(platform)
    queries, seen, cursor = client("subscriptions_queries_http"), [], ""
    while True:
        page = queries.get(f"/subscriptions?client_code=0001&limit=2&cursor={cursor}").get_json()
        seen += [s["subscription_id"] for s in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5


def test_unreadable_message_is_dead_lettered_with_a_failure_event(
    platform: InMemoryPlatform,
) -> None:
    attributes = {
        "ce-id": "c-1",
        "ce-type": "co.saludtech.subscriptions.subscription.create.v1",
        "ce-source": "/x",
        "ce-specversion": "1.0",
    }
    subscriptions_create_subscription(pubsub_event(b'{"plan": 1}', attributes))
    [(data, kept)] = platform.publisher.raw[NAMES.dead_letter_topic]
    assert data == b'{"plan": 1}' and kept["saludtech-rejection-reason"] == "schema_violation"
    [failure] = platform.publisher.messages(NAMES.events_topic)
    assert failure.payload.reason == "schema_violation"  # type: ignore[attr-defined]
    assert failure.payload.command_id == "c-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "attributes", "reason"),
    [
        (b"{}", {}, "unsupported_message"),
        (
            b"not json",
            {
                "ce-id": "1",
                "ce-type": "co.saludtech.subscriptions.subscription.create.v1",
                "ce-source": "/x",
                "ce-specversion": "1.0",
            },
            "malformed_json",
        ),
        (
            b"{}",
            {
                "ce-id": "1",
                "ce-type": "co.saludtech.subscriptions.subscription.create.v9",
                "ce-source": "/x",
                "ce-specversion": "1.0",
            },
            "unsupported_message",
        ),
    ],
)
def test_poison_messages_are_acked_not_retried(
    platform: InMemoryPlatform, data: bytes, attributes: dict[str, str], reason: str
) -> None:
    subscriptions_create_subscription(pubsub_event(data, attributes))  # returns: acknowledged
    assert platform.publisher.messages(NAMES.events_topic)[0].payload.reason == reason  # type: ignore[attr-defined]


def test_transient_failures_raise_so_the_platform_retries(platform: InMemoryPlatform) -> None:
    commands = client("subscriptions_commands_http")
    sid = commands.post("/subscriptions", json={"client": CLIENT, "plan": "PRO"}).get_json()[
        "subscription_id"
    ]
    deliver_commands(platform)
    commands.post(f"/subscriptions/{sid}/payments", json={"card_token": "tok_gateway_unavailable"})
    [pay] = platform.publisher.messages(NAMES.commands_topic)
    data, attributes = pay.to_pubsub()
    with pytest.raises(TransientError):
        function_for(NAMES.commands_topic, attributes)(pubsub_event(data, attributes, pay.id))
    response = client("subscriptions_pay_subscription").post(
        "/",
        headers={
            "ce-id": "x",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-source": "//pubsub",
            "ce-specversion": "1.0",
            "Content-Type": "application/json",
        },
        data=json.dumps(pushed(data, attributes, pay.id)),
    )
    assert response.status_code == 500  # what Eventarc sees: not acknowledged


def test_logs_of_a_whole_flow_hold_no_personal_data(
    platform: InMemoryPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.logging import configure_logging

    configure_logging()
    commands = client("subscriptions_commands_http")
    sid = commands.post("/subscriptions", json={"client": CLIENT, "plan": "PRO"}).get_json()[
        "subscription_id"
    ]
    commands.post(f"/subscriptions/{sid}/payments", json={"card_token": "tok_visa"})
    deliver_commands(platform)
    deliver_commands(platform)
    out = capsys.readouterr().out
    assert "message_processed" in out
    for value in CLIENT.values():
        assert value not in out
    assert "tok_visa" not in out
    for line in out.strip().splitlines():
        assert "severity" in json.loads(line)
    # every envelope still round-trips: what was published is readable at the other end
    for envelope in platform.publisher.messages(NAMES.events_topic):
        Envelope.from_json(envelope.to_json(platform.sealer), platform.sealer)
