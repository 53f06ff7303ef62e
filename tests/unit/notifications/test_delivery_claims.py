"""An attempt is claimed before it is sent: concurrent duplicates send once, and a claimant
that died is taken over once its lease has run out."""

from __future__ import annotations

import threading

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.notifications import wiring
from functions.notifications.domain import AttemptInFlight, ClaimTooOld
from functions.notifications.messages import NAMES
from infra.local.mail import MailSink
from shared.domain.clock import FixedClock
from shared.domain.errors import TransientError
from shared.ports.envelope import Envelope
from tests.unit.notifications.helpers import (
    CLIENT_EMAIL,
    SUBSCRIPTIONS_EVENTS,
    Bus,
    created,
    deliver,
    envelope_of,
)


def first_delivery(platform: InMemoryPlatform, bus: Bus) -> Envelope:
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    [command] = platform.publisher.messages(NAMES.commands_topic)
    platform.publisher.clear_topic(NAMES.commands_topic)
    return command


def test_concurrent_deliveries_of_one_attempt_send_one_email(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    command = first_delivery(platform, bus)
    start = threading.Barrier(6)
    retried: list[str] = []

    def worker() -> None:
        start.wait(timeout=10)
        try:
            deliver(NAMES.commands_topic, command)
        except TransientError as error:
            retried.append(type(error).__name__)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sink.messages) == 1
    assert set(retried) <= {"AttemptInFlight"}  # told to come back, never sent again
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["attempts"]) == ("sent", 1)


def test_a_claim_whose_claimant_died_is_taken_over_after_its_lease(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    command = first_delivery(platform, bus)
    w = wiring.build(platform)
    w.processor.process(command)  # claimed, then the instance died
    with pytest.raises(AttemptInFlight):
        deliver(NAMES.commands_topic, command)
    assert sink.messages == []
    clock.advance(minutes=4)  # the lease (5 minutes) still runs: nobody sends
    with pytest.raises(AttemptInFlight):
        deliver(NAMES.commands_topic, command)
    assert sink.messages == []
    clock.advance(minutes=2)
    deliver(NAMES.commands_topic, command)
    deliver(NAMES.commands_topic, command)
    assert len(sink.messages) == 1
    [(nid, row)] = platform.store.query("notifications_view").items
    assert row["status"] == "sent"
    kinds = [e.type.rsplit(".", 2)[-2] for e in w.storage.events.read_stream(nid)]
    assert kinds == ["created", "attempt_started", "attempt_started", "sent"]


class Broken:
    def send(self, outgoing: object, preference: object) -> object:
        raise RuntimeError(f"bug while sending to {CLIENT_EMAIL}")


def test_a_failing_adapter_ends_the_attempt_and_logs_no_personal_data(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, capsys: pytest.CaptureFixture[str]
) -> None:
    w = bootstrap.context(wiring.build)
    w.delivery.channels = {**w.delivery.channels, "email": Broken()}  # type: ignore[dict-item]
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    [row] = [d for _, d in platform.store.query("notifications_view").items]
    assert (row["status"], row["last_reason"]) == ("retrying", "channel_error_RuntimeError")
    logged = capsys.readouterr()
    assert "channel_error" in logged.out + logged.err
    assert CLIENT_EMAIL not in logged.out + logged.err


def test_a_yes_whose_outcome_was_not_recorded_is_recorded_by_the_takeover_not_sent_again(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock,
    w: wiring.NotificationsWiring, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    command = first_delivery(platform, bus)
    record = w.delivery._conclude
    calls: list[int] = []

    def unreachable_once(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the store went away after the SMTP server said yes")
        return record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(w.delivery, "_conclude", unreachable_once)
    with pytest.raises(ConnectionError):
        deliver(NAMES.commands_topic, command)
    assert len(sink.messages) == 1
    with pytest.raises(AttemptInFlight):  # a redelivery while the lease runs sends nothing
        deliver(NAMES.commands_topic, command)
    clock.advance(minutes=6)
    deliver(NAMES.commands_topic, command)  # takes over, finds the yes in the ledger
    deliver(NAMES.commands_topic, command)  # late duplicate: sent is recorded
    assert len(sink.messages) == 1
    [(nid, row)] = platform.store.query("notifications_view").items
    assert (row["status"], row["attempts"]) == ("sent", 1)
    kinds = [e.type.rsplit(".", 2)[-2] for e in w.storage.events.read_stream(nid)]
    assert kinds == ["created", "attempt_started", "attempt_started", "sent"]
    sent = {
        e.id for e in platform.publisher.messages(NAMES.events_topic) if e.type.endswith(".sent.v1")
    }
    assert len(sent) == 1  # published again by the late duplicate, under the same id


def test_a_claimant_too_far_into_its_lease_sends_nothing_and_is_taken_over_later(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock,
    w: wiring.NotificationsWiring, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    command = first_delivery(platform, bus)
    claim = w.processor.process

    def slow_claim(envelope: Envelope) -> object:
        processed = claim(envelope)
        clock.advance(minutes=3)  # the claimant stalled after its claim committed
        return processed

    monkeypatch.setattr(w.delivery.processor, "process", slow_claim)
    with pytest.raises(ClaimTooOld):
        deliver(NAMES.commands_topic, command)
    monkeypatch.setattr(w.delivery.processor, "process", claim)
    assert sink.messages == []
    with pytest.raises(AttemptInFlight):
        deliver(NAMES.commands_topic, command)
    clock.advance(minutes=3)
    deliver(NAMES.commands_topic, command)
    deliver(NAMES.commands_topic, command)
    assert len(sink.messages) == 1
