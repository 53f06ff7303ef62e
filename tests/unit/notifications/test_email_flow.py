"""From a subscription's events to emails in a real SMTP sink, through the functions of
main.py as their triggers filter them."""

from __future__ import annotations

import re

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.notifications import wiring
from functions.notifications.adapters.smtp_email import SmtpEmailChannel
from functions.notifications.handlers import RecipientNotYetKnown
from functions.notifications.messages import NAMES
from infra.local.mail import MailSink, free_port
from shared.domain.clock import FixedClock
from tests.unit.notifications.helpers import (
    CLIENT_EMAIL,
    SUBSCRIPTIONS_EVENTS,
    Bus,
    created,
    declined,
    envelope_of,
    paid,
)


def view(platform: InMemoryPlatform, notification_id: str) -> dict:  # type: ignore[type-arg]
    found = platform.store.get("notifications_view", notification_id)
    assert found is not None
    return found


def test_a_pro_subscription_is_told_by_email_and_each_notification_is_sent_once(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    creation = created()
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(creation))
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(declined(creation.subscription_id)))
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(creation.subscription_id)))
    assert bus.run() == 3
    mails = sink.messages
    assert [m["Subject"] for m in mails] == [
        "Your PRO subscription is created",
        "Your payment was declined",
        "Payment received for your PRO subscription",
    ]
    assert all(m["To"] == CLIENT_EMAIL for m in mails)
    assert "499.00 USD" in mails[2].get_content()
    assert bus.events() == ["created", "created", "created", "sent", "sent", "sent"]


def test_events_and_logs_of_notifications_never_carry_the_clients_address(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, capsys: pytest.CaptureFixture[str]
) -> None:
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    assert len(sink.messages) == 1
    logged = capsys.readouterr()
    assert "delivery_attempt" in logged.out + logged.err
    assert CLIENT_EMAIL not in logged.out + logged.err
    published = [
        e.payload.model_dump_json() for e in platform.publisher.messages(NAMES.events_topic)
    ]
    assert published and not any(CLIENT_EMAIL in text for text in published)


def test_duplicated_and_reordered_events_send_each_email_once(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    creation = created()
    payment = envelope_of(paid(creation.subscription_id))
    # The payment first: its client is not known yet, so the event waits (is retried).
    with pytest.raises(RecipientNotYetKnown):
        bus.send(SUBSCRIPTIONS_EVENTS, payment)
    first = envelope_of(creation)
    for envelope in (first, payment, first, payment, payment):
        bus.send(SUBSCRIPTIONS_EVENTS, envelope)
    bus.run()
    # Every DeliverNotification delivered twice more: claims are taken once.
    for envelope in platform.publisher.messages(NAMES.commands_topic):
        bus.send(NAMES.commands_topic, envelope)
    assert len(sink.messages) == 2
    # Redeliveries publish the same events again (same ids): two of each, once each.
    published = platform.publisher.messages(NAMES.events_topic)
    sent = {e.id: e.subject for e in published if e.type.endswith(".sent.v1")}
    made = {e.id for e in published if e.type.endswith(".created.v1")}
    assert len(sent) == len(set(sent.values())) == len(made) == 2


def test_an_smtp_server_that_is_down_is_retried_on_the_schedule_then_it_is_sent(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    sink.refuse_with("451 4.3.0 try again later")
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"], row["attempts"]) == ("retrying", "smtp_451", 1)
    assert row["next_attempt_at"] == "2026-12-02T12:00:05.000Z"
    assert bus.waiting  # attempt 2 is not due yet: redelivered until it is
    sink.refuse_with(None)
    clock.advance(seconds=5)
    bus.run()
    row = view(platform, row["notification_id"])
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(sink.messages) == 1


def test_a_refused_address_fails_at_once_with_the_reason(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    sink.refuse_with("550 5.1.1 mailbox unavailable")
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"], row["attempts"]) == ("failed", "smtp_550", 1)
    assert bus.events() == ["created", "failed"]
    assert not bus.waiting


def test_after_the_last_step_of_the_schedule_the_notification_fails(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    w = bootstrap.context(wiring.build)
    nobody = SmtpEmailChannel("127.0.0.1", free_port(), "n@saludtech.local")  # refused
    w.delivery.channels = {**w.delivery.channels, "email": nobody}
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    for wait in w.delivery.deps.schedule:
        clock.advance(seconds=wait.total_seconds())
        bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"]) == ("failed", "smtp_unreachable")
    assert row["attempts"] == len(w.delivery.deps.schedule) + 1 == 8
    assert not bus.waiting and not sink.messages


def test_the_email_carries_a_confirmation_link_and_a_stable_message_id(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    [mail] = sink.messages
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert mail["Message-ID"] == f"<{row['notification_id']}@saludtech.local>"
    assert re.search(r"/api_http/v1/notifications/confirm\?token=\S+", mail.get_content())
