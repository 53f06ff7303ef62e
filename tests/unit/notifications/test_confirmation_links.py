"""A notification's confirmation link opens on the public api, at the configured public URL:
`<public_url>/v1/notifications/confirm?token=...`, whatever port or host the api has."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions import bootstrap
from functions.api.app import app as api
from functions.notifications.confirmation import CONFIRM_PATH, ConfirmationLinks
from infra.local.mail import MailSink
from infra.local.ports import StackPorts
from infra.local.stack import LocalStack
from shared.config import Settings
from shared.domain.clock import FixedClock
from tests.unit.notifications.helpers import SUBSCRIPTIONS_EVENTS, Bus, created, envelope_of

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(
    params=[
        "http://127.0.0.1:18190/api_http",
        "https://europe-west1-p.cloudfunctions.net/api_http/",
    ]
)
def configured(request: pytest.FixtureRequest, sink: MailSink) -> Iterator[tuple[str, Bus]]:
    settings = Settings(smtp_port=sink.port, public_url=request.param)
    platform = dataclasses.replace(bootstrap.in_memory_platform(settings), clock=FixedClock(NOW))
    bootstrap.use(platform)
    yield str(request.param).rstrip("/"), Bus(platform)
    bootstrap.use(None)


def test_the_mailed_link_opens_on_the_public_api_at_the_configured_url(
    configured: tuple[str, Bus], sink: MailSink
) -> None:
    public_url, bus = configured
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.run()
    [mail] = sink.messages
    links = re.findall(r"https?://\S+", mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert links, mail
    assert all(link.startswith(f"{public_url}/v1/notifications/confirm?token=") for link in links)
    assert "notifications_commands_http" not in mail.as_string()


def test_the_path_is_the_public_apis_confirmation_route() -> None:
    rules = api.url_map.iter_rules()
    served = {(rule.rule, method) for rule in rules for method in rule.methods or ()}
    assert {(CONFIRM_PATH, "GET"), (CONFIRM_PATH, "POST")} <= served
    links = ConfirmationLinks(keys=[b"k"], base_url="https://api.example/api_http/")
    assert links.url("n-1", NOW).startswith(f"https://api.example/api_http{CONFIRM_PATH}?token=")


def test_the_local_stack_gives_the_functions_its_own_public_url() -> None:
    stack = LocalStack(ports=StackPorts(functions=18190))
    assert stack.env["SALUDTECH_PUBLIC_URL"] == "http://127.0.0.1:18190/api_http"
