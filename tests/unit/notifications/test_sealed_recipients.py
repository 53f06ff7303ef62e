"""The recipients' contacts are sealed at rest (security v2, finding 6): every channel's email
address and webhook URL, and a pending change's new address, with the shared field cipher,
bound to the recipient, the channel and the field. Mail and webhooks still reach them; the
queries answer the same; a document written before (in clear) still works, and the
migration seals it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import ExpertAssigned
from functions.ingestion.messages import StudyIngested
from functions.notifications.messages import NAMES, ChannelPreference, SetRecipientChannels
from functions.notifications.recipients import (
    PENDING,
    Recipient,
    channel_fields,
    stored_channels,
)
from functions.notifications.wiring import NotificationsWiring
from infra.local.mail import MailSink
from shared.ports.doors import DoorAnswer
from shared.ports.envelope import Envelope
from shared.service.field_crypto import FieldCipherError
from tests.unit.notifications.helpers import (
    CLIENT_EMAIL,
    SUBSCRIPTIONS_EVENTS,
    Bus,
    WebhookReceiver,
    created,
    envelope_of,
    paid,
)
from tools.seal_personal_fields import migrations, run

MAIN = str(Path(__file__).parents[3] / "main.py")
NEW_EMAIL = "nueva.direccion@elsewhere.example.org"
EXPERT_EMAIL = "ana.experta.zq@example.org"
CENTER_EMAIL = "recepcion.centro.zq@example.org"
BILLING_EMAIL = "billing.zq@client.example.org"
HOOK_TOKEN = "hook-token-Hq27"  # a webhook URL's query string may carry one
PLANTED = (CLIENT_EMAIL, NEW_EMAIL, EXPERT_EMAIL, CENTER_EMAIL, BILLING_EMAIL, HOOK_TOKEN)


@dataclasses.dataclass
class ContactDoors:
    """The registry's and identity's contacts doors: the one address each knows."""

    emails: dict[str, str]

    def call(
        self,
        target: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> DoorAnswer:
        return DoorAnswer(200, {"email": self.emails[path.split("/")[2]]})


def stored(platform: InMemoryPlatform) -> str:
    """Every document of the store, as text."""
    return repr(platform.store._docs)


def queries() -> Any:
    return functions_framework.create_app("notifications_queries_http", MAIN).test_client()  # type: ignore[no-untyped-call]


def answers(recipient_id: str) -> list[Any]:
    """What the queries door answers about a recipient: its notifications, each in full."""
    door = queries()
    page = door.get(f"/recipients/{recipient_id}/notifications").get_json()
    ids = [n["notification_id"] for n in page["items"]]
    return [page, *(door.get(f"/notifications/{nid}").get_json() for nid in ids)]


def test_no_stored_document_holds_an_address_in_clear_and_each_is_still_reached(
    platform: InMemoryPlatform,
    bus: Bus,
    sink: MailSink,
    hooks: WebhookReceiver,
    w: NotificationsWiring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A client's address learned, then a change of it asked (pending, to be confirmed).
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created()))
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created(email=NEW_EMAIL)))
    # Channels set by command: an email and a webhook whose URL carries a token.
    hook = f"{hooks.url}?token={HOOK_TOKEN}"
    chosen = SetRecipientChannels(
        recipient_id="client-0002",
        channels=[
            ChannelPreference(channel="email", address=BILLING_EMAIL),
            ChannelPreference(channel="webhook", url=hook),
        ],
    )
    bus.send(NAMES.commands_topic, Envelope(payload=chosen, source="/test"))
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(created(code="0002")))
    # An expert's and a center's, asked of the contexts that hold them.
    doors = ContactDoors({"EXP-7": EXPERT_EMAIL, "hospital-9": CENTER_EMAIL})
    assigned = ExpertAssigned(
        data_service_id="ds-1", expert_code="EXP-7", speciality="CHEST",
        assigned_at="2026-12-02T12:31:00.000Z",
    )  # fmt: skip
    dataclasses.replace(w.contacts, doors=doors).on_expert_assigned(
        Envelope(payload=assigned, source="/saludtech/data_services")
    )
    study = StudyIngested(
        package_id="pkg-1", data_source="hospital-9", entry_count=1, anonymized=1, rejected=0,
        study_ids=["1.2.3"], completed_at="2026-12-02T12:00:00.000Z",
    )  # fmt: skip
    dataclasses.replace(w.centers, doors=doors).on_center_event(
        Envelope(payload=study, source="/saludtech/ingestion")
    )
    bus.run()

    for planted in PLANTED:
        assert planted not in stored(platform), planted
    assert stored(platform).count("address_sealed") >= 5
    # Each is reached at its own address, the pending one not yet.
    told = {str(m["To"]) for m in sink.messages}
    assert told == {CLIENT_EMAIL, BILLING_EMAIL, EXPERT_EMAIL, CENTER_EMAIL}
    assert len(hooks.received) == 1
    # The pending change is sealed with the same field cipher, bound to the recipient.
    document = platform.store.get(w.storage.recipients, "client-0001") or {}
    fields = channel_fields(platform.settings)
    assert fields.open("client-0001/pending_email", document[PENDING])["address"] == NEW_EMAIL
    # Events and log lines name recipients only.
    logged = capsys.readouterr()
    published = [
        m.payload.model_dump_json() for m in platform.publisher.messages(NAMES.events_topic)
    ]
    for planted in PLANTED:
        assert planted not in logged.out + logged.err
        assert not any(planted in text for text in published)


def test_a_sealed_contact_opens_only_on_its_recipient_and_channel(
    platform: InMemoryPlatform,
) -> None:
    fields = channel_fields(platform.settings)
    email = ChannelPreference(channel="email", address=CLIENT_EMAIL)
    [sealed] = stored_channels(fields, "client-0001", [email])
    assert set(sealed) == {"channel", "address_sealed", "templates"}
    own = {"recipient_id": "client-0001", "channels": [sealed]}
    assert Recipient.from_document(own, fields).email == CLIENT_EMAIL
    with pytest.raises(FieldCipherError):  # copied onto another recipient
        Recipient.from_document({**own, "recipient_id": "client-0002"}, fields)
    as_webhook = {"channel": "webhook", "url_sealed": sealed["address_sealed"]}
    with pytest.raises(FieldCipherError):  # or onto another channel or field
        Recipient.from_document({**own, "channels": [as_webhook]}, fields)


def test_an_old_clear_document_still_works_and_the_migration_seals_it(
    platform: InMemoryPlatform,
    bus: Bus,
    sink: MailSink,
    hooks: WebhookReceiver,
    w: NotificationsWiring,
) -> None:
    recipients = w.storage.recipients
    old = {"recipient_id": "client-0001", "managed": True, "channels": [
        {"channel": "email", "address": CLIENT_EMAIL, "url": None, "templates": None},
        {"channel": "webhook", "address": None, "url": f"{hooks.url}?token={HOOK_TOKEN}",
         "templates": None}]}  # fmt: skip
    platform.store.run_in_transaction(lambda tx: tx.put(recipients, "client-0001", old))
    first = created()
    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(first))
    bus.run()
    assert [m["To"] for m in sink.messages] == [CLIENT_EMAIL]
    assert len(hooks.received) == 1
    before = answers("client-0001")
    assert CLIENT_EMAIL in stored(platform)  # nothing rewrote it

    todo = [m for m in migrations(platform.settings) if m.collection == recipients]
    assert run(lambda context: platform.store, todo)[recipients]["changed"] == 1
    for planted in (CLIENT_EMAIL, HOOK_TOKEN):
        assert planted not in stored(platform)
    assert run(lambda context: platform.store, todo)[recipients]["changed"] == 0
    assert answers("client-0001") == before
    for planted in (CLIENT_EMAIL, HOOK_TOKEN):
        assert planted not in repr(before)

    bus.send(SUBSCRIPTIONS_EVENTS, envelope_of(paid(first.subscription_id)))
    bus.run()
    assert [m["To"] for m in sink.messages] == [CLIENT_EMAIL, CLIENT_EMAIL]
    assert len(hooks.received) == 2
