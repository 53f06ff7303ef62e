"""The HTTP command door and the command status: nothing reads "pending" for ever, a key
means one request, a command for a subscription that will never exist is refused, and what
clients put in headers or free text is not echoed onto topics."""

from __future__ import annotations

from typing import Any

from functions.bootstrap import InMemoryPlatform
from functions.subscriptions.entrypoints import ENTRY_POINTS
from functions.subscriptions.messages import NAMES
from tests.support.cloud_events import pubsub_event
from tests.support.delivery import deliver
from tests.support.functions import function_client as client
from tests.unit.subscriptions.factories import CLIENT

subscriptions_record_dead_letter = ENTRY_POINTS["subscriptions_record_dead_letter"]


def create(headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client("subscriptions_commands_http").post(
        "/subscriptions", json={"client": CLIENT, "plan": "PRO", **body}, headers=headers or {}
    )


def status(command_id: str) -> Any:
    return client("subscriptions_queries_http").get(f"/commands/{command_id}")


def deliver_commands(p: InMemoryPlatform) -> None:
    for envelope in p.publisher.messages(NAMES.commands_topic):
        deliver(NAMES.commands_topic, envelope)
    p.publisher.clear_topic(NAMES.commands_topic)


def test_an_accepted_command_is_pending_then_applied(platform: InMemoryPlatform) -> None:
    accepted = create().get_json()
    assert status(accepted["command_id"]).get_json()["status"] == "pending"
    deliver_commands(platform)
    assert status(accepted["command_id"]).get_json()["status"] == "applied"


def test_an_unknown_command_id_is_404(platform: InMemoryPlatform) -> None:
    answer = status("never-accepted")
    assert (answer.status_code, answer.get_json()["error"]["reason"]) == (
        404,
        "command_not_found",
    )


def test_a_dead_lettered_command_reads_dead_lettered_with_its_reason(
    platform: InMemoryPlatform,
) -> None:
    accepted = create().get_json()
    [command] = platform.publisher.messages(NAMES.commands_topic)
    data, attributes = command.to_pubsub(platform.sealer)
    dead = {
        **attributes,
        "CloudPubSubDeadLetterSourceDeliveryCount": "10",
        "CloudPubSubDeadLetterSourceSubscription": "trigger-subscriptions-create-subscription",
    }
    for _ in range(2):  # delivered twice: recorded and announced once (same event id)
        subscriptions_record_dead_letter(pubsub_event(data, dead, "dl-1"))
    answer = status(accepted["command_id"]).get_json()
    assert answer["status"] == "dead_lettered"
    assert answer["reason"] == "delivery_attempts_exhausted"
    assert answer["delivery_attempts"] == 10
    failures = platform.publisher.messages(NAMES.events_topic)
    assert len({f.id for f in failures}) == 1
    assert failures[0].payload.reason == "dead_lettered"  # type: ignore[attr-defined]
    assert failures[0].payload.command_id == accepted["command_id"]  # type: ignore[attr-defined]
    records = platform.store.query(platform.settings.collection("dead_letters")).items
    assert len(records) == 1 and records[0][1]["ce_type"] == command.type


def test_an_unreadable_message_is_recorded_without_a_second_failure_event(
    platform: InMemoryPlatform,
) -> None:
    kept = {"ce-id": "c-9", "saludtech-rejection-reason": "schema_violation"}
    subscriptions_record_dead_letter(pubsub_event(b"{}", kept, "dl-2"))
    assert platform.publisher.messages(NAMES.events_topic) == []
    [(_, record)] = platform.store.query(platform.settings.collection("dead_letters")).items
    assert record["reason"] == "schema_violation" and record["status"] == "dead"


def test_an_idempotency_key_reused_with_another_body_is_422(platform: InMemoryPlatform) -> None:
    key = {"Idempotency-Key": "order-7"}
    assert create(key).status_code == 202
    assert create(key).status_code == 202  # the same request again: the same command
    reused = create(key, plan="BASIC")
    assert (reused.status_code, reused.get_json()["error"]["reason"]) == (
        422,
        "idempotency_key_reused",
    )
    assert len(platform.publisher.messages(NAMES.commands_topic)) == 2


def test_a_command_for_a_subscription_that_will_never_exist_is_refused_at_the_door(
    platform: InMemoryPlatform,
) -> None:
    commands = client("subscriptions_commands_http")
    refused = commands.post("/subscriptions/no-such-id/plan", json={"plan": "BASIC"})
    assert (refused.status_code, refused.get_json()["error"]["reason"]) == (
        404,
        "subscription_not_found",
    )
    # accepted but not yet processed (messages arrive in any order): let through
    sid = create().get_json()["subscription_id"]
    assert commands.post(f"/subscriptions/{sid}/plan", json={"plan": "BASIC"}).status_code == 202


def test_a_correlation_id_that_is_not_a_plain_token_is_replaced(
    platform: InMemoryPlatform,
) -> None:
    accepted = create({"X-Correlation-ID": "Juan Perez <juan@example.com>"}).get_json()
    [command] = platform.publisher.messages(NAMES.commands_topic)
    assert "Juan" not in command.correlation_id and command.correlation_id == command.id
    assert accepted["correlation_id"] == command.id
    plain = create({"X-Correlation-ID": "trace-123"}).get_json()
    assert plain["correlation_id"] == "trace-123"


def test_a_free_text_cancellation_reason_is_published_as_a_code(
    platform: InMemoryPlatform,
) -> None:
    sid = create().get_json()["subscription_id"]
    deliver_commands(platform)
    commands = client("subscriptions_commands_http")
    text = "Dr. Juan Perez left the project"
    assert commands.post(f"/subscriptions/{sid}/cancel", json={"reason": text}).status_code == 202
    deliver_commands(platform)
    cancelled = platform.publisher.messages(NAMES.events_topic)[-1]
    assert cancelled.type.endswith("cancelled.v1")
    assert cancelled.payload.reason == "other"  # type: ignore[attr-defined]
    assert "Perez" not in cancelled.payload.model_dump_json()
