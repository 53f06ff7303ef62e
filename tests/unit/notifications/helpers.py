"""Builders of the events notifications react to, a bus that plays Pub/Sub for its
commands, and a webhook receiver on a real local HTTP server."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from functions.bootstrap import InMemoryPlatform
from functions.notifications.messages import NAMES
from functions.subscriptions.messages import (
    PaymentDeclined,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.errors import TransientError
from shared.domain.messages import Message
from shared.ports.envelope import Envelope
from tests.support.cloud_events import pubsub_event
from tests.support.delivery import functions_for, installed_sealer

SUBSCRIPTIONS_EVENTS = "subscriptions-events"
INGESTION_EVENTS = "ingestion-events"
CLIENT_EMAIL = "pperez@example.com"


def created(
    code: str = "0001", subscription_id: str = "", email: str = CLIENT_EMAIL
) -> SubscriptionCreated:
    return SubscriptionCreated(
        subscription_id=subscription_id or f"sub-{uuid.uuid4().hex[:8]}",
        client_code=code,
        client_email=email,
        plan="PRO",
        price_cents=49900,
        currency="USD",
        billing_period="monthly",
        provisions_data_service=True,
        status="PENDING_PAYMENT",
        created_at="2026-12-02T12:00:00.000Z",
    )


def paid(subscription_id: str, code: str = "0001") -> SubscriptionPaid:
    return SubscriptionPaid(
        subscription_id=subscription_id,
        client_code=code,
        plan="PRO",
        payment_id=f"pay-{uuid.uuid4().hex[:6]}",
        transaction_id="tx-1",
        amount_cents=49900,
        currency="USD",
        paid_through="2027-01-02T12:00:00.000Z",
        paid_at="2026-12-02T12:01:00.000Z",
    )


def declined(subscription_id: str, code: str = "0001") -> PaymentDeclined:
    return PaymentDeclined(
        subscription_id=subscription_id,
        client_code=code,
        plan="PRO",
        payment_id=f"pay-{uuid.uuid4().hex[:6]}",
        amount_cents=49900,
        currency="USD",
        reason="card_declined",
        declined_at="2026-12-02T12:01:00.000Z",
    )


def envelope_of(payload: Message, source: str = "/saludtech/subscriptions") -> Envelope:
    return Envelope(payload=payload, source=source)


def deliver(topic: str, envelope: Envelope) -> None:
    """Hand a message to the notifications function its trigger takes it to (other
    contexts' functions on the same topic get their own copy, and are not under test)."""
    data, attributes = envelope.to_pubsub(installed_sealer())
    [function] = [
        f for f in functions_for(topic, attributes) if f.__name__.startswith("notifications_")
    ]
    function(pubsub_event(data, attributes, envelope.id))


class Bus:
    """Hands the notifications commands to their functions as Pub/Sub would: a command that
    raises a transient error (not yet due, client not yet known) is kept and offered again."""

    def __init__(self, platform: InMemoryPlatform) -> None:
        self.platform = platform
        self.waiting: list[Envelope] = []

    def send(self, topic: str, envelope: Envelope) -> None:
        deliver(topic, envelope)

    def run(self) -> int:
        """Deliver commands until a round brings nothing new; how many went through."""
        done = 0
        while True:
            topic = NAMES.commands_topic
            fresh = self.platform.publisher.messages(topic)
            self.platform.publisher.clear_topic(topic)
            batch, self.waiting = self.waiting + fresh, []
            for envelope in batch:
                try:
                    deliver(topic, envelope)
                    done += 1
                except TransientError:
                    self.waiting.append(envelope)
            if not fresh:
                return done

    def events(self) -> list[str]:
        return [t.rsplit(".", 2)[-2] for t in self.platform.publisher.types(NAMES.events_topic)]


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers `statuses` in turn
    (the last one from then on)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                index = min(len(receiver.received) - 1, len(receiver.statuses) - 1)
                self.send_response(receiver.statuses[index])
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hooks"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
