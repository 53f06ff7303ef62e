"""The notifications context on in-memory adapters, a fixed clock, a real SMTP sink and a
real webhook receiver (both on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.notifications import wiring
from infra.local.mail import MailSink
from shared.config import Settings
from shared.domain.clock import FixedClock
from tests.unit.notifications.helpers import Bus, WebhookReceiver
from tests.unit.notifications.scripted_smtp import ScriptedServer, ScriptedSmtp

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OPERATOR_EMAIL = "oncall@example.com"
OLD_WEBHOOK_SECRET = "whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1rZXktMQ=="


@pytest.fixture
def smtp() -> Iterator[ScriptedServer]:
    """A scripted SMTP server on 127.0.0.1 (its answers set per test)."""
    server = ScriptedServer(("127.0.0.1", 0), ScriptedSmtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as running:
        yield running


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def platform(sink: MailSink, clock: FixedClock) -> Iterator[InMemoryPlatform]:
    settings = Settings(
        smtp_port=sink.port,
        operator_email=OPERATOR_EMAIL,
        webhook_allow_private=True,  # the receivers of these tests listen on 127.0.0.1
        webhook_secrets=f"{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}",  # type: ignore[arg-type]
    )
    p = dataclasses.replace(bootstrap.in_memory_platform(settings), clock=clock)
    bootstrap.use(p)
    yield p
    bootstrap.use(None)


@pytest.fixture
def bus(platform: InMemoryPlatform) -> Bus:
    return Bus(platform)


@pytest.fixture
def w(platform: InMemoryPlatform) -> wiring.NotificationsWiring:
    return bootstrap.context(wiring.build)
