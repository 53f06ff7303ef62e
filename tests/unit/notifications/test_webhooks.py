"""Webhooks to a real local HTTP receiver: Standard Webhooks signatures, key rotation, what a
4xx and a 5xx do to a delivery."""

from __future__ import annotations

import json

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.ingestion.messages import StudyIngested
from functions.notifications.adapters import webhook_signing
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from shared.domain.clock import FixedClock
from shared.ports.envelope import Envelope
from tests.unit.notifications.conftest import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET
from tests.unit.notifications.helpers import (
    INGESTION_EVENTS,
    SUBSCRIPTIONS_EVENTS,
    Bus,
    WebhookReceiver,
    created,
    envelope_of,
)


def test_the_standard_webhooks_reference_signature() -> None:
    # The example of the Standard Webhooks specification's reference libraries.
    headers = webhook_signing.headers(
        [WEBHOOK_SECRET], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_refuses_a_changed_body_another_key_and_an_old_timestamp() -> None:
    body = b'{"a":1}'
    signed = webhook_signing.headers([WEBHOOK_SECRET], "msg_1", 1_000_000, body)
    assert webhook_signing.verify(WEBHOOK_SECRET, signed, body, now=1_000_010)
    assert not webhook_signing.verify(WEBHOOK_SECRET, signed, b'{"a":2}', now=1_000_010)
    assert not webhook_signing.verify(OLD_WEBHOOK_SECRET, signed, body, now=1_000_010)
    assert not webhook_signing.verify(WEBHOOK_SECRET, signed, body, now=1_000_000 + 301)


def register_center(bus: Bus, url: str) -> None:
    command = SetRecipientChannels(
        recipient_id="center-hospital-1",
        channels=[ChannelPreference(channel="webhook", url=url)],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=command, source="/test"))


def study() -> StudyIngested:
    return StudyIngested(
        package_id="pkg-1", data_source="hospital-1", entry_count=3, anonymized=2, rejected=1,
        study_ids=["1.2.3"], completed_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip


def test_a_center_gets_a_signed_webhook_that_either_key_of_a_rotation_verifies(
    platform: InMemoryPlatform, bus: Bus, hooks: WebhookReceiver, clock: FixedClock
) -> None:
    register_center(bus, hooks.url)
    cause = envelope_of(study(), source="/saludtech/ingestion")
    bus.send(INGESTION_EVENTS, cause)
    bus.run()
    [(headers, body)] = hooks.received
    now = int(clock().timestamp())
    # The receiver's clock is ours: the signature was made with the sending time.
    stamp = int(headers["webhook-timestamp"])
    assert webhook_signing.verify(WEBHOOK_SECRET, headers, body, now=stamp)
    assert webhook_signing.verify(OLD_WEBHOOK_SECRET, headers, body, now=stamp)
    assert len(headers["webhook-signature"].split()) == 2
    sent = json.loads(body)
    assert sent["type"] == "notification.study_ingested"
    assert sent["data"]["facts"] == {"package_id": "pkg-1", "entry_count": 3, "anonymized": 2,
                                     "rejected": 1}  # fmt: skip
    assert sent["data"]["cause_event_id"] == cause.id
    assert headers["webhook-id"] == sent["data"]["notification_id"]
    assert now > 0 and "1.2.3" not in body.decode()  # study ids are not among the facts


@pytest.mark.parametrize(
    ("status", "outcome"), [(400, "failed"), (410, "failed"), (500, "retrying"), (429, "retrying")]
)
def test_a_4xx_fails_at_once_and_a_5xx_or_429_is_retried(
    platform: InMemoryPlatform, bus: Bus, hooks: WebhookReceiver, status: int, outcome: str
) -> None:
    hooks.statuses = [status]
    register_center(bus, hooks.url)
    bus.send(INGESTION_EVENTS, envelope_of(study(), source="/saludtech/ingestion"))
    bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"]) == (outcome, f"webhook_{status}")
    assert len(hooks.received) == 1


def test_an_unreachable_webhook_is_retried_then_delivered(
    platform: InMemoryPlatform, bus: Bus, hooks: WebhookReceiver, clock: FixedClock
) -> None:
    hooks.statuses = [503, 503, 204]
    register_center(bus, hooks.url)
    bus.send(INGESTION_EVENTS, envelope_of(study(), source="/saludtech/ingestion"))
    for wait in (0, 5, 300):
        clock.advance(seconds=wait)
        bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len({h["webhook-id"] for h, _ in hooks.received}) == 1  # one message, three tries


def test_a_center_without_a_channel_gets_a_failed_notification_with_the_reason(
    platform: InMemoryPlatform, bus: Bus
) -> None:
    bus.send(INGESTION_EVENTS, envelope_of(study(), source="/saludtech/ingestion"))
    bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"], row["channel"]) == ("failed", "no_channel", "none")
    assert bus.events() == ["created", "failed"]


def test_channels_set_by_command_win_over_the_learned_email(
    platform: InMemoryPlatform, bus: Bus, hooks: WebhookReceiver
) -> None:
    command = SetRecipientChannels(
        recipient_id="client-0001",
        channels=[
            ChannelPreference(channel="webhook", url=hooks.url, templates=["subscription_paid"])
        ],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=command, source="/test"))
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"]) == ("failed", "no_channel_for_template")
    assert hooks.received == []
