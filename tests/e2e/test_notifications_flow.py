"""Notifications end to end: HTTP → subscriptions → events → notifications → a real SMTP
sink; the saga's outcomes (ready to the client, stuck to the operator); and 300 events
under the bridge's chaos (duplicates, reordering) give every notification exactly one
email."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from functions.sagas.messages import SagaCompleted, SagaStuck
from infra.local.environment import temporary_environment
from infra.local.mail import MailSink
from infra.local.stack import LocalStack
from infra.samples.clients import SAMPLE_CLIENT
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.ports.envelope import Envelope
from tests.conftest import ChaosSwitch, unique_names
from tests.e2e.conftest import STACK_SEALER, wait_for_outcome
from tests.e2e.notifications_stack import notifications_stack
from tests.unit.notifications.helpers import created, declined, paid

pytestmark = pytest.mark.emulators
# Three events each (created, declined, paid): 300 events, each one email. Measured on two
# shared cores: 150 events took 34 s (load ~9), 300 took 71 s (load ~3).
CLIENTS = 100


@pytest.fixture(scope="module")
def mail_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, MailSink]]:
    with notifications_stack(
        tmp_path_factory.mktemp("notifications"), unique_names("notif")
    ) as made:
        yield made


def views(stack: LocalStack, recipient: str, http: requests.Session) -> list[dict[str, Any]]:
    url = f"{stack.functions_url}/notifications_queries_http/recipients/{recipient}/notifications"
    items: list[dict[str, Any]] = http.get(url, params={"limit": 100}, timeout=10).json()["items"]
    return items


def test_a_pro_subscriptions_emails_arrive_in_the_mailbox(
    mail_stack: tuple[LocalStack, MailSink],
) -> None:
    stack, sink = mail_stack
    before = len(sink.messages)
    code = f"c{uuid.uuid4().hex[:6]}"
    http = requests.Session()
    base = f"{stack.functions_url}/subscriptions_commands_http/subscriptions"
    client = {**SAMPLE_CLIENT, "code": code, "email": f"{code}@example.com"}
    made = http.post(base, json={"client": client, "plan": "PRO"}, timeout=10).json()
    sid = made["subscription_id"]
    for card in ("tok_declined", "tok_visa"):
        # One at a time, as a client would: the second payment after the first's outcome.
        paying = http.post(f"{base}/{sid}/payments", json={"card_token": card}, timeout=10)
        wait_for_outcome(http, stack.functions_url, paying.json()["command_id"])
    mails = [m for m in sink.wait_for(before + 3, timeout=60) if m["To"] == client["email"]]
    assert sorted(str(m["Subject"]) for m in mails) == [
        "Payment received for your PRO subscription",
        "Your PRO subscription is created",
        "Your payment was declined",
    ]
    deadline = time.monotonic() + 30
    while True:  # the Sent event is recorded just after the mail is accepted
        statuses = {v["template"]: v["status"] for v in views(stack, f"client-{code}", http)}
        if set(statuses.values()) == {"sent"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert statuses == {
        "subscription_created": "sent",
        "payment_declined": "sent",
        "subscription_paid": "sent",
    }


def test_a_sagas_outcomes_reach_the_client_and_the_operator(
    mail_stack: tuple[LocalStack, MailSink],
) -> None:
    stack, sink = mail_stack
    before = len(sink.messages)
    creation = created(code=f"s{uuid.uuid4().hex[:6]}", email="saga-client@example.com")
    saga = f"saga-{uuid.uuid4().hex[:8]}"
    done = SagaCompleted(
        saga_id=saga, definition="PRO", subscription_id=creation.subscription_id,
        client_code=creation.client_code, facts={"data_service_id": "ds-e2e"},
        completed_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip
    stuck = SagaStuck(
        saga_id=saga, definition="PRO", subscription_id=creation.subscription_id,
        step="payment", reason="kept_failing", stuck_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip
    with temporary_environment(stack.env):
        publisher = PubSubPublisher(stack.project_id, sealer=STACK_SEALER)
    sagas = [Envelope(payload=p, source="/saludtech/sagas") for p in (done, stuck)]
    publisher.publish("sagas-events", sagas)  # before the client is known: they wait
    publisher.publish("subscriptions-events", [Envelope(payload=creation, source="/s")])
    told = {(str(m["To"]), str(m["Subject"])) for m in sink.wait_for(before + 3, timeout=90)}
    assert ("saga-client@example.com", "Your data service is ready") in told
    assert ("operator@saludtech.local", f"Operator action needed: saga {saga} is stuck") in told


@pytest.mark.timeout(900)  # 300 events and 300 deliveries on two shared cores
def test_chaos_300_events_every_notification_mailed_exactly_once(
    mail_stack: tuple[LocalStack, MailSink], chaos: ChaosSwitch
) -> None:
    stack, sink = mail_stack
    triggers = [
        f"trigger-{name}" for name in stack.topology.functions if name.startswith("notifications-")
    ]
    chaos.set(stack, duplicate_rate=0.3, reorder_window=25, seed=9, subscriptions=triggers)
    before = {str(m["Message-ID"]) for m in sink.messages}
    run = uuid.uuid4().hex[:6]
    envelopes = []
    for n in range(CLIENTS):
        creation = created(code=f"{run}{n:03d}", email=f"chaos{n}@example.com")
        for payload in (creation, declined(creation.subscription_id, creation.client_code),
                        paid(creation.subscription_id, creation.client_code)):  # fmt: skip
            envelopes.append(Envelope(payload=payload, source="/saludtech/subscriptions"))
    with temporary_environment(stack.env):
        publisher = PubSubPublisher(stack.project_id, sealer=STACK_SEALER)
    publisher.publish("subscriptions-events", envelopes)
    expected = len(before) + 3 * CLIENTS
    deadline = time.monotonic() + 700
    while len(sink.messages) < expected and time.monotonic() < deadline:
        sink.wait_for(expected, timeout=5)
    # The bridge idles (nothing in flight) before the count is taken: a duplicate email would
    # have had the time to arrive.
    stats_url = f"{stack.bridge_url}/stats"
    for _ in range(100):
        answer = requests.get(stats_url, timeout=5).json()
        if all(not s.get("in_flight") for s in answer.values() if isinstance(s, dict)):
            break
        time.sleep(0.2)
    ours = [m for m in sink.messages if str(m["Message-ID"]) not in before]
    ids = [str(m["Message-ID"]) for m in ours]
    # Exactly one email per notification: a duplicate or reordered delivery never sends
    # while a claim is live or once the yes is recorded (docs/notifications.md). Only a
    # crash between the SMTP server's yes and its record could repeat one, and none is
    # injected here.
    assert len(set(ids)) == 3 * CLIENTS
    assert len(ids) == 3 * CLIENTS, sorted(i for i in ids if ids.count(i) > 1)
    duplicated = sum(
        s.get("duplicates_injected", 0)
        for s in requests.get(stats_url, timeout=5).json().values()
        if isinstance(s, dict)
    )
    assert duplicated > 0  # the chaos did happen
