"""tools/seal_personal_fields.py: documents written before security finding 6 (personal
fields in clear) are read as they are, and the migration seals them: every read answers the
same before and after, a second run changes nothing, a dry run writes nothing."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.data_services import queries as data_queries
from functions.data_services import wiring as data_services_wiring
from functions.data_services.messages import CreateDataService, CreateDataServiceV2
from functions.notifications.recipients import COLLECTION as RECIPIENTS
from functions.notifications.recipients import RecipientDirectory, channel_fields
from functions.sagas import wiring as sagas_wiring
from functions.sagas.messages import NAMES as SAGAS
from functions.subscriptions import queries as subscription_queries
from functions.subscriptions import wiring as subscriptions_wiring
from functions.subscriptions.messages import NAMES as SUBSCRIPTIONS
from functions.subscriptions.unit_of_work import SubscriptionsUnitOfWork
from shared.ports.envelope import Envelope
from shared.service.field_crypto import lookup_token
from shared.service.processing import inbox_id, recorded_outbox
from tests.unit.data_services.factories import (
    create_command_v1,
    register_command,
    subscription_created,
)
from tests.unit.data_services.flow import send
from tests.unit.subscriptions.factories import create_command
from tools.seal_personal_fields import migrations, run

HOOK_TOKEN = "hook-token-Zq81"  # a webhook URL's query string may carry one
IDS_AND_EMAILS = (
    "12345678-5", "123457890", "pperez@example.com", "15.111.222-3", "csoto@", HOOK_TOKEN,
)  # fmt: skip
NAMES = ("Pablo", "Perez", "pperez")  # the client's, in a v1 CreateDataService
SAGA_CAUSE = "cause-of-a-v1-command"


def in_clear(envelope: Envelope) -> dict[str, Any]:
    """An envelope as stored before messages sealed their personal fields: data in clear."""
    sealer = bootstrap.platform("any").sealer
    return {**envelope.to_json(sealer), "data": envelope.payload.model_dump(mode="json")}


def write_old_documents(platform: InMemoryPlatform) -> str:
    """Documents as the code before the finding wrote them (personal fields in clear); the
    subscription's id."""
    store = platform.store
    subscriptions = bootstrap.context(subscriptions_wiring.build)
    command = create_command("PRO")
    subscriptions.processor.process(Envelope(payload=command, source=SUBSCRIPTIONS.source))
    sid, client = command.subscription_id, subscriptions.client
    old = store.get(subscriptions.collection, sid)
    assert old is not None
    old["client"] = client.open(sid, old["client"])
    inbox = f"{SUBSCRIPTIONS.name}_inbox"
    [(record_id, record)] = store.query(inbox).items
    entries = recorded_outbox(record, client.cipher, record_id)
    record["outbox"] = [
        {"topic": entry.topic, "envelope": in_clear(entry.envelope)} for entry in entries
    ]

    send(register_command())
    data_services = bootstrap.context(data_services_wiring.build).collections
    expert = store.get(data_services.experts, "EXP-001")
    assert expert is not None
    expert = data_services.sealed_experts.open("EXP-001", expert)

    # What the sagas recorded when they sent CreateDataService v1 (the client's names).
    v1 = Envelope(payload=create_command_v1(), source=SAGAS.source, causation_id=SAGA_CAUSE)
    saga_record = {
        "consumer": "sagas",
        "message_id": SAGA_CAUSE,
        "outcome": "applied",
        "event_types": [v1.type],
        "outbox": [{"topic": "data-services-commands", "envelope": in_clear(v1)}],
    }
    # A data service a v1 command created: it kept the client's names.
    service = {"data_service_id": "ds-v1", "client_code": "0001", "client": {
        "code": "0001", "first_names": "Pablo", "last_names": "Perez", "username": "pperez"}}  # fmt: skip

    # A recipient of notifications: its channels' address and URL in clear.
    recipient = {"recipient_id": "client-0001", "managed": True, "channels": [
        {"channel": "email", "address": "pperez@example.com", "url": None, "templates": None},
        {"channel": "webhook", "address": None, "url": f"https://hooks.example.org/in?t={HOOK_TOKEN}",
         "templates": ["subscription_paid"]}]}  # fmt: skip

    def write(tx: Any) -> None:
        tx.put(platform.settings.collection(RECIPIENTS), "client-0001", recipient)
        tx.put(subscriptions.collection, sid, old)
        tx.put(inbox, record_id, record)
        tx.put(data_services.experts, "EXP-001", expert)
        tx.put(f"{SAGAS.name}_inbox", inbox_id(SAGA_CAUSE), saga_record)
        tx.put(data_services.services, "ds-v1", service)

    store.run_in_transaction(write)
    return sid


def answers(platform: InMemoryPlatform, sid: str) -> list[Any]:
    """What every reader of those documents gets."""
    store = platform.store
    subscriptions = bootstrap.context(subscriptions_wiring.build)
    collections = bootstrap.context(data_services_wiring.build).collections

    def client(tx: Any) -> Any:
        found = SubscriptionsUnitOfWork(tx, subscriptions.client).subscriptions.get(sid)
        return found.client if found else None

    recipients = platform.settings.collection(RECIPIENTS)
    fields = channel_fields(platform.settings)
    recipient = store.run_in_transaction(
        lambda tx: RecipientDirectory(tx, recipients, fields).get("client-0001")
    )
    redelivered = subscriptions.processor.process(
        Envelope(payload=create_command("PRO", subscription_id=sid), source="/t", id="x")
    )
    return [
        subscription_queries.get_subscription(store, sid, subscriptions.client),
        store.run_in_transaction(client),
        data_queries.expert_contact(store, collections, "EXP-001"),
        data_queries.get_expert(store, collections, "EXP-001"),
        redelivered.outcome,
        recipient,
    ]


def republished_by_the_sagas(platform: InMemoryPlatform) -> list[dict[str, Any]]:
    """A redelivery of the saga's cause publishes the copy its inbox record kept."""
    processor = bootstrap.context(sagas_wiring.build).processor
    envelope = Envelope(payload=subscription_created(), source="/t", id=SAGA_CAUSE)
    return [in_clear(entry.envelope) for entry in processor.process(envelope).outbox]


def stored(platform: InMemoryPlatform, *collections: str) -> str:
    return repr({k: v for k, v in platform.store._docs.items() if k[0] in collections})


def test_old_documents_read_the_same_before_and_after_and_a_second_run_changes_nothing(
    platform: InMemoryPlatform,
) -> None:
    sid = write_old_documents(platform)
    todo = migrations(platform.settings)
    everything = [m.collection for m in todo]
    before = answers(platform, sid)
    assert any(planted in stored(platform, *everything) for planted in IDS_AND_EMAILS)
    [v1] = republished_by_the_sagas(platform)
    assert v1["type"] == CreateDataService.TYPE

    dry = run(lambda context: platform.store, todo, dry_run=True)
    assert stored(platform, *everything).count("pperez@example.com") >= 1  # nothing written
    counts = run(lambda context: platform.store, todo)
    assert counts == dry
    assert {c: n["changed"] for c, n in counts.items()} == dict.fromkeys(everything, 1)

    assert answers(platform, sid) == before
    text = stored(platform, *everything)
    for planted in IDS_AND_EMAILS:
        assert planted not in text
    assert HOOK_TOKEN not in stored(platform, platform.settings.collection(RECIPIENTS))
    legacy = stored(platform, f"{SAGAS.name}_inbox", "data_services")
    for name in NAMES:
        assert name not in legacy
    [v2] = republished_by_the_sagas(platform)
    assert (v2["id"], v2["type"]) == (v1["id"], CreateDataServiceV2.TYPE)
    assert v2["data"]["client_code"] == v1["data"]["client"]["code"]

    again = run(lambda context: platform.store, todo)
    assert all(n["changed"] == 0 for n in again.values())
    assert answers(platform, sid) == before


def test_a_lookup_token_finds_a_value_by_kind_and_key_and_is_the_accounts_one() -> None:
    key = b"k" * 32
    token = lookup_token(key, "email", "pperez@example.com")
    assert token == lookup_token(key, "email", "pperez@example.com")
    assert token != lookup_token(key, "username", "pperez@example.com")
    assert token != lookup_token(b"o" * 32, "email", "pperez@example.com")
    assert "pperez" not in token
    # identity's Accounts._key, so identity can use it without a migration of its lookups.
    expected = hmac.new(key, b"email:pperez@example.com", hashlib.sha256).hexdigest()
    assert token == expected
