"""The PRO saga's outcomes: the client hears "ready" only from SagaCompleted, hears what was
undone from SagaCompensated (never "ready"), and the operator (from configuration) hears of
a stuck saga; duplicates and reordering tell each of them once."""

from __future__ import annotations

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.notifications import wiring
from functions.notifications.handlers import RecipientNotYetKnown, notification_id
from functions.notifications.templates import TEMPLATES, render
from functions.sagas.messages import SagaCompensated, SagaCompleted, SagaStuck
from infra.local.mail import MailSink
from shared.ports.envelope import Envelope
from tests.unit.notifications.conftest import OPERATOR_EMAIL
from tests.unit.notifications.helpers import CLIENT_EMAIL, SUBSCRIPTIONS_EVENTS, Bus, created

SAGAS_EVENTS = "sagas-events"
SOURCE = "/saludtech/sagas"


def completed(subscription_id: str, code: str = "0001") -> SagaCompleted:
    return SagaCompleted(
        saga_id="saga-1", definition="PRO", subscription_id=subscription_id, client_code=code,
        facts={"data_service_id": "ds-9", "payment_id": "pay-1", "expert_code": "E7",
               "plan": "PRO"},
        completed_at="2026-12-02T12:10:00.000Z",
    )  # fmt: skip


def compensated(subscription_id: str, undone: list[str] | None = None) -> SagaCompensated:
    return SagaCompensated(
        saga_id="saga-2", definition="PRO", subscription_id=subscription_id, client_code="0001",
        failed_step="delivery", reason="dataset_empty", undone=undone or [],
        compensated_at="2026-12-02T12:20:00.000Z",
    )  # fmt: skip


def stuck(subscription_id: str) -> SagaStuck:
    return SagaStuck(
        saga_id="saga-3", definition="PRO", subscription_id=subscription_id, step="payment",
        reason="kept_failing", stuck_at="2026-12-02T12:30:00.000Z",
    )  # fmt: skip


def mails(sink: MailSink) -> list[tuple[str, str, str]]:
    return sorted(
        (str(m["To"]), str(m["Subject"]), m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        for m in sink.messages
    )


def test_the_client_is_told_ready_once_and_only_after_it_is_known(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    subscription = created()
    done = Envelope(payload=completed(subscription.subscription_id), source=SOURCE)
    with pytest.raises(RecipientNotYetKnown):  # reordered: before the client's creation
        bus.send(SAGAS_EVENTS, done)
    bus.send(SUBSCRIPTIONS_EVENTS, Envelope(payload=subscription, source="/s"))
    for _ in range(3):  # duplicates
        bus.send(SAGAS_EVENTS, done)
    bus.run()
    ready = [m for m in mails(sink) if m[1] == "Your data service is ready"]
    assert len(ready) == 1
    to, _, text = ready[0]
    assert to == CLIENT_EMAIL
    assert "ds-9" in text and subscription.subscription_id in text
    said = text.split("Please confirm")[0]  # not the link: its token is random text
    assert "pay-1" not in said and "E7" not in said  # only the data service is shown
    w = wiring.build(platform)
    nid = notification_id(done.id, "client-0001", "email")
    [(found, row)] = [
        (i, d) for i, d in platform.store.query(w.storage.view.collection).items
        if d["template"] == "data_service_ready"
    ]  # fmt: skip
    assert (found, row["cause_event_id"], row["status"]) == (nid, done.id, "sent")


def test_a_compensated_saga_says_what_was_undone_and_never_ready(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    subscription = created()
    bus.send(SUBSCRIPTIONS_EVENTS, Envelope(payload=subscription, source="/s"))
    undone = ["data_service", "payment", "subscription"]
    failed = Envelope(payload=compensated(subscription.subscription_id, undone), source=SOURCE)
    bus.send(SAGAS_EVENTS, failed)
    bus.send(SAGAS_EVENTS, failed)
    bus.run()
    [(to, subject, text)] = [m for m in mails(sink) if "data service" in m[1]]
    assert (to, subject) == (CLIENT_EMAIL, "We could not set up your data service")
    assert "your payment was refunded" in text
    assert text.index("data service was cancelled") < text.index("payment was refunded")
    assert "dataset_empty" in text and "delivery" in text
    assert "ready" not in (subject + text.split("Please confirm")[0]).lower()


@pytest.mark.parametrize("undone", [[], ["payment"], ["unknown_step"]])
def test_no_rendering_of_a_failure_says_ready(undone: list[str]) -> None:
    subject, text = render(
        "data_service_setup_failed",
        {"saga_id": "s", "subscription_id": "sub", "failed_step": "payment",
         "reason": "kept_declining", "plan": "PRO", "undone": ",".join(undone)},
    )  # fmt: skip
    assert "ready" not in (subject + text).lower()
    assert ("undone" in text) if not undone else ("What we undid" in text)
    assert "ready" in TEMPLATES["data_service_ready"].subject.lower()


def test_a_stuck_saga_goes_to_the_configured_operator_and_not_to_the_client(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    subscription = created()
    bus.send(SUBSCRIPTIONS_EVENTS, Envelope(payload=subscription, source="/s"))
    event = Envelope(payload=stuck(subscription.subscription_id), source=SOURCE)
    bus.send(SAGAS_EVENTS, event)
    bus.send(SAGAS_EVENTS, event)
    bus.run()
    told = [m for m in mails(sink) if "saga" in m[1]]
    assert [(to, subject) for to, subject, _ in told] == [
        (OPERATOR_EMAIL, "Operator action needed: saga saga-3 is stuck")
    ]
    assert "payment" in told[0][2] and "saga show saga-3" in told[0][2]
    assert "sent" in bus.events()


def test_without_an_operator_configured_a_stuck_saga_is_a_loud_failed_notification(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.settings.operator_email = ""
    bus.send(SAGAS_EVENTS, Envelope(payload=stuck("sub-1"), source=SOURCE))
    bus.run()
    assert sink.messages == []
    [(_, row)] = platform.store.query("notifications_view").items
    assert (row["recipient_id"], row["status"], row["last_reason"]) == (
        "operator",
        "failed",
        "no_channel",
    )
    assert bus.events() == ["created", "failed"]
    logged = capsys.readouterr()
    assert "configured_recipient_unreachable" in logged.out + logged.err
