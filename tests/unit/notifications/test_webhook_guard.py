"""The SSRF guard of webhooks: every refused class of address (IPv4, IPv6, IPv4 inside
IPv6, numbers written as decimal, octal or hex), https only where required, every resolved
address checked, the send connecting to the address checked, no redirect followed; refused
at registration (a 4xx with its reason) and at send time (a failed notification)."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.ingestion.messages import StudyIngested
from functions.notifications import wiring
from functions.notifications.adapters.webhook_guard import (
    UrlRefused,
    WebhookGuard,
    address_refusal,
)
from functions.notifications.adapters.webhooks import WebhookChannel
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from functions.notifications.ports import Outgoing
from shared.ports.envelope import Envelope
from tests.unit.notifications.conftest import WEBHOOK_SECRET
from tests.unit.notifications.helpers import INGESTION_EVENTS, Bus, WebhookReceiver

MAIN = str(Path(__file__).parents[3] / "main.py")
CLOUD = WebhookGuard(allow_http=False, allow_private=False)
PUBLIC = "93.184.216.34"

REFUSED = [
    # IPv4
    ("https://127.0.0.1/hook", "webhook_address_loopback"),
    ("https://127.8.9.10/hook", "webhook_address_loopback"),
    ("https://10.1.2.3/", "webhook_address_private"),
    ("https://172.16.0.1/", "webhook_address_private"),
    ("https://192.168.0.10:8443/x?y=1", "webhook_address_private"),
    ("https://169.254.169.254/computeMetadata/v1/", "webhook_address_link_local"),
    ("https://224.0.0.251/", "webhook_address_multicast"),
    ("https://240.0.0.1/", "webhook_address_reserved"),
    ("https://0.0.0.0/", "webhook_address_unspecified"),
    ("https://100.64.0.1/", "webhook_address_not_global"),  # carrier-grade NAT
    # IPv6
    ("https://[::1]/", "webhook_address_loopback"),
    ("https://[::]/", "webhook_address_unspecified"),
    ("https://[fe80::1]/", "webhook_address_link_local"),
    ("https://[fd00:ec2::254]/", "webhook_address_private"),
    ("https://[ff02::1]/", "webhook_address_multicast"),
    # IPv4 inside IPv6: mapped, 6to4, NAT64
    ("https://[::ffff:127.0.0.1]/", "webhook_address_loopback"),
    ("https://[::ffff:169.254.169.254]/", "webhook_address_link_local"),
    ("https://[::ffff:a00:1]/", "webhook_address_private"),
    ("https://[2002:7f00:1::]/", "webhook_address_loopback"),
    ("https://[64:ff9b::a9fe:a9fe]/", "webhook_address_link_local"),
    # Numbers the C resolver reads as addresses
    ("https://2130706433/", "webhook_address_loopback"),  # decimal 127.0.0.1
    ("https://0177.0.0.1/", "webhook_address_loopback"),  # octal
    ("https://0x7f.0x0.0x0.0x1/", "webhook_address_loopback"),  # hex
    ("https://127.1/", "webhook_address_loopback"),  # short form
    ("https://2852039166/", "webhook_address_link_local"),  # decimal 169.254.169.254
    ("https://0251.0376.0251.0376/", "webhook_address_link_local"),  # octal metadata
    # The URL itself
    ("http://hooks.example.com/", "webhook_url_not_https"),
    ("https://user:pw@hooks.example.com/", "webhook_url_userinfo"),
    ("https://hooks.example.com@127.0.0.1/", "webhook_url_userinfo"),
    ("ftp://hooks.example.com/", "webhook_url_invalid"),
    ("https:///nohost", "webhook_url_invalid"),
    ("https://hooks.example.com:99999/", "webhook_url_invalid"),
]


def resolving_to(*addresses: str) -> Any:
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_every_refused_class_is_refused_before_any_lookup(url: str, reason: str) -> None:
    guard = WebhookGuard(resolver=resolving_to(PUBLIC))
    with pytest.raises(UrlRefused) as refused:
        guard.resolve(url)
    assert refused.value.reason == reason and refused.value.permanent


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        ((PUBLIC, "10.0.0.5"), "webhook_address_private"),  # one bad answer is enough
        (("169.254.169.254",), "webhook_address_link_local"),
        (("2606:2800:220:1::1", "::ffff:127.0.0.1"), "webhook_address_loopback"),
        (("fe80::1%eth0",), "webhook_address_link_local"),
    ],
)
def test_every_address_a_name_resolves_to_is_checked(
    addresses: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(UrlRefused) as refused:
        WebhookGuard(resolver=resolving_to(*addresses)).resolve("https://hooks.example.com/")
    assert refused.value.reason == reason


def test_a_public_address_is_taken_and_an_unresolvable_name_is_retried() -> None:
    target = WebhookGuard(resolver=resolving_to(PUBLIC)).resolve("https://Hooks.Example.com/a?b=1")
    assert (target.address, target.host, target.port, target.path) == (
        PUBLIC, "hooks.example.com", 443, "/a?b=1",
    )  # fmt: skip
    assert target.host_header == "hooks.example.com"

    def fails(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    with pytest.raises(UrlRefused) as refused:
        WebhookGuard(resolver=fails).resolve("https://hooks.example.com/")
    assert (refused.value.reason, refused.value.permanent) == ("webhook_unresolvable", False)


def test_public_addresses_pass_the_address_check() -> None:
    for text in (PUBLIC, "8.8.8.8", "2606:2800:220:1::1", "::ffff:93.184.216.34"):
        assert address_refusal(ipaddress.ip_address(text)) is None


def outgoing() -> Outgoing:
    return Outgoing(
        notification_id="n-1", recipient_id="center-1", template="study_ingested",
        subject="s", text="t", facts={}, cause_event_id="e", cause_event_type="t",
        created_at="2026-12-02T12:00:00.000Z", confirm_url="",
    )  # fmt: skip


def test_the_send_refuses_loopback_unless_allowed_and_connects_to_the_address_checked(
    hooks: WebhookReceiver,
) -> None:
    to = ChannelPreference(channel="webhook", url=hooks.url)
    refused = WebhookChannel([WEBHOOK_SECRET], now=lambda: 1, guard=CLOUD).send(outgoing(), to)
    assert (refused.delivered, refused.reason, refused.permanent) == (
        False, "webhook_url_not_https", True,
    )  # fmt: skip
    local = WebhookGuard(allow_http=True, allow_private=False)
    refused = WebhookChannel([WEBHOOK_SECRET], now=lambda: 1, guard=local).send(outgoing(), to)
    assert refused.reason == "webhook_address_loopback"
    assert hooks.received == []
    # A name resolved once, to the checked address: the POST goes there, with the name as Host.
    port = hooks.url.split(":")[2].split("/")[0]
    resolver = resolving_to("127.0.0.1")
    pinned = WebhookGuard(allow_http=True, allow_private=True, resolver=resolver)
    named = ChannelPreference(channel="webhook", url=f"http://hooks.test:{port}/hooks")
    sent = WebhookChannel([WEBHOOK_SECRET], now=lambda: 1, guard=pinned).send(outgoing(), named)
    assert sent.delivered and resolver.calls == ["hooks.test"]
    [(headers, _)] = hooks.received
    assert headers["host"] == f"hooks.test:{port}"


def test_a_redirect_is_not_followed(hooks: WebhookReceiver) -> None:
    hooks.statuses = [307]
    local = WebhookGuard(allow_http=True, allow_private=True)
    to = ChannelPreference(channel="webhook", url=hooks.url)
    outcome = WebhookChannel([WEBHOOK_SECRET], now=lambda: 1, guard=local).send(outgoing(), to)
    assert (outcome.delivered, outcome.reason, outcome.permanent) == (False, "webhook_307", True)
    assert len(hooks.received) == 1


def test_registration_refuses_a_metadata_url_with_a_4xx_and_its_reason(
    platform: InMemoryPlatform,
) -> None:
    platform.settings.webhook_allow_private = False
    door = functions_framework.create_app("notifications_commands_http", MAIN).test_client()  # type: ignore[no-untyped-call]
    for url, reason in [
        ("http://169.254.169.254/latest/meta-data/", "webhook_address_link_local"),
        ("http://[::ffff:127.0.0.1]:8080/", "webhook_address_loopback"),
        ("http://2130706433/", "webhook_address_loopback"),
    ]:
        answer = door.put(
            "/recipients/center-1/channels",
            json={"channels": [{"channel": "webhook", "url": url}]},
        )
        assert answer.status_code == 422
        error = answer.get_json()["error"]
        assert (error["reason"], error["field"]) == (reason, "url")
        assert url not in answer.get_data(as_text=True)  # the URL is never echoed
    assert platform.publisher.messages(NAMES.commands_topic) == []


def test_a_command_with_a_private_url_is_rejected_and_a_name_turning_private_fails_the_send(
    platform: InMemoryPlatform, bus: Bus
) -> None:
    platform.settings.webhook_allow_private = False
    private = SetRecipientChannels(
        recipient_id="center-hospital-1",
        channels=[ChannelPreference(channel="webhook", url="https://10.0.0.7/hooks")],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=private, source="/test"))
    assert bus.events() == ["rejected"]
    [rejection] = platform.publisher.messages(NAMES.events_topic)
    assert rejection.payload.reason == "webhook_address_private"  # type: ignore[attr-defined]
    # A name that passed registration and resolves to a private address when sent to.
    named = SetRecipientChannels(
        recipient_id="center-hospital-1",
        channels=[ChannelPreference(channel="webhook", url="https://hooks.example.com/h")],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=named, source="/test"))
    live = bootstrap.context(wiring.build)
    rebinding = WebhookGuard(resolver=resolving_to("192.168.1.20"))
    live.delivery.channels = {
        **live.delivery.channels,
        "webhook": WebhookChannel([WEBHOOK_SECRET], now=lambda: 1, guard=rebinding),
    }
    event = StudyIngested(
        package_id="pkg-1", data_source="hospital-1", entry_count=1, anonymized=1, rejected=0,
        study_ids=["1.2.3"], completed_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip
    bus.send(INGESTION_EVENTS, Envelope(payload=event, source="/saludtech/ingestion"))
    bus.run()
    [row] = [d for _, d in platform.store.query(live.storage.view.collection).items]
    assert (row["status"], row["last_reason"]) == ("failed", "webhook_address_private")


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (a test CA of its own)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_to_the_checked_address_verifies_the_certificate_of_the_urls_host(
    tmp_path: Path, hooks: WebhookReceiver
) -> None:
    cert, key = _certificate(tmp_path, "hooks.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = hooks._server
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_port
    pinned = WebhookGuard(allow_private=True, resolver=resolving_to("127.0.0.1"))
    channel = WebhookChannel(
        [WEBHOOK_SECRET], now=lambda: 1, guard=pinned, ca_certs=str(cert), timeout=(2, 2)
    )
    right = ChannelPreference(channel="webhook", url=f"https://hooks.test:{port}/hooks")
    assert channel.send(outgoing(), right).delivered
    [(headers, _)] = hooks.received
    assert headers["host"] == f"hooks.test:{port}"
    # Same address, another name: the certificate does not name it, nothing is sent.
    wrong = ChannelPreference(channel="webhook", url=f"https://other.test:{port}/hooks")
    outcome = channel.send(outgoing(), wrong)
    assert (outcome.delivered, outcome.reason) == (False, "webhook_unreachable")
    assert len(hooks.received) == 1
