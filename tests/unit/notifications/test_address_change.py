"""A client's notification address changes only when its current address confirms it
(security v2, finding 5): a SubscriptionCreated with another email asks the current address,
by a signed, single-use, expiring link of its own purpose that opens on the public api. An
operator's channels still win; an unchanged address writes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.notifications import address_change, wiring
from functions.notifications.confirmation import ADDRESS_CHANGE_PATH, CONFIRM_PATH
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from functions.notifications.recipients import COLLECTION as RECIPIENTS
from functions.notifications.recipients import PENDING, Recipient
from functions.notifications.wiring import NotificationsWiring
from infra.local.mail import MailSink
from shared.domain.clock import FixedClock
from shared.domain.errors import PermanentError
from shared.ports.envelope import Envelope
from tests.unit.notifications.helpers import (
    CLIENT_EMAIL,
    SUBSCRIPTIONS_EVENTS,
    Bus,
    created,
    envelope_of,
    paid,
)

MAIN = str(Path(__file__).parents[3] / "main.py")
NEW_EMAIL = "mallory.other@elsewhere.example.org"
ASKING = "Confirm the new address for your notifications"


def api() -> Any:
    return functions_framework.create_app("api_http", MAIN).test_client()  # type: ignore[no-untyped-call]


def _subscribe(bus: Bus, email: str, code: str = "0001") -> str:
    event = created(code=code, email=email)
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(event))
    bus.run()
    return event.subscription_id


def _asking(sink: MailSink) -> list[EmailMessage]:
    return [m for m in sink.messages if m["Subject"] == ASKING]


def _token(mail: EmailMessage, path: str) -> str:
    found = re.search(re.escape(path) + r"\?token=(\S+)", mail.get_content())
    assert found, mail.get_content()
    return found.group(1)


def _change(token: str, form: bool = False) -> Any:
    if form:
        return api().post(ADDRESS_CHANGE_PATH, data={"token": token})
    return api().post(ADDRESS_CHANGE_PATH, json={"token": token})


def _reason(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.get_json()["error"]["reason"]


def test_another_email_does_not_redirect_and_asks_the_current_address_masked(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribe(bus, CLIENT_EMAIL)
    second = _subscribe(bus, NEW_EMAIL)
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(second)))
    bus.run()
    # Every mail, the request to confirm included, goes to the current address.
    assert {m["To"] for m in sink.messages} == {CLIENT_EMAIL}
    [asking] = _asking(sink)
    text = asking.get_content()
    assert "m***@elsewhere.example.org" in text
    assert NEW_EMAIL not in asking.as_string()
    assert f"{ADDRESS_CHANGE_PATH}?token=" in text and CONFIRM_PATH not in text
    # The new address is sealed in the recipient's document, in clear nowhere.
    stored = platform.store.get(RECIPIENTS, "client-0001")
    assert stored is not None and NEW_EMAIL not in str(stored) and stored[PENDING]["address_sealed"]
    # Events and log lines name the recipient only.
    logged = capsys.readouterr()
    assert "address_change_asked" in logged.out + logged.err
    published = [
        e.payload.model_dump_json() for e in platform.publisher.messages(NAMES.events_topic)
    ]
    for address in (NEW_EMAIL, "elsewhere.example", CLIENT_EMAIL):
        assert address not in logged.out + logged.err
        assert not any(address in text for text in published)


def test_the_link_changes_the_address_once_and_a_second_click_answers_the_same(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _subscribe(bus, CLIENT_EMAIL)
    second = _subscribe(bus, NEW_EMAIL)
    token = _token(_asking(sink)[0], ADDRESS_CHANGE_PATH)

    page = api().get(f"{ADDRESS_CHANGE_PATH}?token={token}")
    assert page.status_code == 200 and b'<form method="post">' in page.data
    assert PENDING in (platform.store.get(RECIPIENTS, "client-0001") or {})  # a GET: nothing

    first = _change(token, form=True)
    assert (first.status_code, first.get_json()) == (
        200, {"recipient_id": "client-0001", "status": "changed"},
    )  # fmt: skip
    again = _change(token)
    assert (again.status_code, again.get_json()) == (first.status_code, first.get_json())

    before = len(sink.messages)
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(second)))
    bus.run()
    assert [m["To"] for m in sink.messages[before:]] == [NEW_EMAIL]


def test_a_forged_an_expired_or_another_purposes_link_is_refused_with_its_reason(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, clock: FixedClock
) -> None:
    _subscribe(bus, CLIENT_EMAIL)
    _subscribe(bus, NEW_EMAIL)
    [welcome, *_] = [m for m in sink.messages if m["Subject"] != ASKING]
    token = _token(_asking(sink)[0], ADDRESS_CHANGE_PATH)
    notification_token = _token(welcome, CONFIRM_PATH)

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _reason(_change(forged)) == (403, "invalid_link")
    assert _reason(_change("garbage")) == (403, "invalid_link")
    # A notification's confirmation link changes no address, and the other way round.
    assert _reason(_change(notification_token)) == (403, "invalid_link")
    assert _reason(api().post(CONFIRM_PATH, json={"token": token})) == (403, "invalid_link")

    clock.advance(days=4)
    assert _reason(_change(token)) == (410, "link_expired")
    assert PENDING in (platform.store.get(RECIPIENTS, "client-0001") or {})


def test_a_later_change_replaces_a_pending_one_and_the_same_one_is_asked_once(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _subscribe(bus, CLIENT_EMAIL)
    _subscribe(bus, NEW_EMAIL)
    _subscribe(bus, NEW_EMAIL.upper())  # the same address: no second request
    _subscribe(bus, "third@example.org")
    first, latest = (_token(m, ADDRESS_CHANGE_PATH) for m in _asking(sink))
    assert _reason(_change(first)) == (409, "address_change_not_pending")
    assert _change(latest).status_code == 200
    stored = platform.store.get(RECIPIENTS, "client-0001") or {}
    fields = bootstrap.context(wiring.build).storage.recipient_fields
    assert Recipient.from_document(stored, fields).email == "third@example.org"


def _set_channels(bus: Bus, address: str) -> None:
    chosen = SetRecipientChannels(
        recipient_id="client-0001",
        channels=[ChannelPreference(channel="email", address=address)],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=chosen, source="/test"))


def test_an_operators_channels_win_and_a_managed_recipient_gets_no_pending_change(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink
) -> None:
    _subscribe(bus, CLIENT_EMAIL)
    _subscribe(bus, NEW_EMAIL)
    token = _token(_asking(sink)[0], ADDRESS_CHANGE_PATH)
    _set_channels(bus, "billing@client.example.org")  # drops the pending change
    assert _reason(_change(token)) == (409, "address_change_not_pending")

    before = len(sink.messages)
    second = _subscribe(bus, "someone@else.example.org")
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(second)))
    bus.run()
    stored = platform.store.get(RECIPIENTS, "client-0001") or {}
    assert stored["managed"] and PENDING not in stored
    assert len(_asking(sink)) == 1  # the one asked before the operator's channels
    assert {m["To"] for m in sink.messages[before:]} == {"billing@client.example.org"}


class _CountingTransaction:
    """A transaction that counts its writes to the recipients collection."""

    def __init__(self, tx: Any, writes: list[str]) -> None:
        self._tx, self._writes = tx, writes

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._tx, name)
        if name not in ("put", "save", "create", "delete"):
            return found

        def counted(collection: str, doc_id: str, *args: Any, **kwargs: Any) -> Any:
            if collection == RECIPIENTS:
                self._writes.append(doc_id)
            return found(collection, doc_id, *args, **kwargs)

        return counted


def test_an_unchanged_address_writes_nothing(
    platform: InMemoryPlatform, bus: Bus, sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[str] = []
    run = platform.store.run_in_transaction

    def counting(work: Callable[[Any], Any]) -> Any:
        return run(lambda tx: work(_CountingTransaction(tx, writes)))

    monkeypatch.setattr(platform.store, "run_in_transaction", counting)
    first = _subscribe(bus, CLIENT_EMAIL)
    assert writes == ["client-0001"]  # learned once
    for _ in range(3):
        _subscribe(bus, CLIENT_EMAIL)
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(first)))
    bus.run()
    assert writes == ["client-0001"]
    assert len(sink.messages) == 5 and not _asking(sink)


def test_the_mask_keeps_the_first_letter_and_the_domain() -> None:
    assert address_change.mask("jane.doe@example.org") == "j***@example.org"
    assert address_change.mask("nobody") == "***"


def test_a_link_names_a_recipient_and_a_change(w: NotificationsWiring) -> None:
    changes = w.address_changes
    token = changes.links.token(
        address_change.link_subject("client-0001", "c-1"), w.platform.clock()
    )
    with pytest.raises(PermanentError) as refused:
        changes.confirm(token)  # genuine, but no such change is pending
    assert refused.value.reason == "address_change_not_pending"
    only_one_part = changes.links.token("client-0001", w.platform.clock())
    with pytest.raises(PermanentError, match="not one we sent"):
        changes.confirm(only_one_part)
