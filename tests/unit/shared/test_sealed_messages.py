"""Personal data never travels in clear on a topic (security v2): every message class that
declares personal fields (Message.PERSONAL) has them sealed wherever its envelope is
serialized (Pub/Sub, an outbox or inbox copy) and opened wherever it is read, before the
payload is validated. A sealed value opens only in its message and field; one that does not
open is poison; one still in clear (in flight at deploy time) is read; and a process without
a field key refuses to serialize them at all."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from concurrent import futures
from typing import Any

import pytest
from pydantic import SecretStr

import main  # noqa: F401  (every context's messages registered)
from functions import bootstrap
from functions.ingestion.messages import IngestPackageEntry
from functions.subscriptions.messages import NAMES, CreateSubscription, PaySubscription
from shared.adapters.memory_publisher import InMemoryPublisher
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.config import Settings
from shared.domain.errors import InvalidMessage
from shared.domain.messages import Message, registered_messages
from shared.entrypoints.pubsub import consume
from shared.ports.envelope import PUBSUB_PUBLISHED, Envelope, from_eventarc
from shared.service.field_crypto import SEALED_PREFIX, FieldCipher
from shared.service.processing import OutboxEntry, recorded_outbox, stored_outbox
from shared.service.sealed_messages import FieldKeyMissing, MessageSealer
from tests.support.cloud_events import pushed
from tests.unit.data_services.factories import (
    create_command_v1,
    register_command,
    subscription_created,
)
from tests.unit.subscriptions.factories import create_command

SEALER = MessageSealer(FieldCipher(bytes(range(32))))
OTHER_KEY = MessageSealer(FieldCipher(bytes(32)))
NO_KEY = MessageSealer(None, "SALUDTECH_FIELD_ENCRYPTION_KEY must be set in the cloud")

# A valid message of each type that declares personal fields; a new declaration needs one.
SAMPLES: dict[str, Callable[[], Message]] = {
    CreateSubscription.TYPE: lambda: create_command("PRO"),
    "co.saludtech.subscriptions.subscription.created.v1": subscription_created,
    "co.saludtech.data_services.data_service.create.v1": create_command_v1,
    "co.saludtech.data_services.expert.register.v1": register_command,
    IngestPackageEntry.TYPE: lambda: IngestPackageEntry(
        package_id="p1",
        bucket="b1",
        name="c1/uploads/Doe^Jane.zip",
        generation=1,
        entry_index=0,
        entry_count=2,
        center_id="c1",
    ),
}
PERSONAL_TYPES = sorted(t for t, m in registered_messages().items() if m.PERSONAL)


def slot(body: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, name = path.split(".")
    for part in parents:
        body = body[part]
    return body, name


def planted(type_name: str) -> tuple[Envelope, list[str]]:
    """An envelope of the type whose every personal field holds a value of its own (none
    of which appears anywhere else in the message), and those values."""
    model = registered_messages()[type_name]
    body = SAMPLES[type_name]().model_dump(mode="json")
    values = []
    for n, path in enumerate(model.PERSONAL):
        holder, name = slot(body, path)
        holder[name] = f"qz{n:02d}plant"
        values.append(holder[name])
    return Envelope(payload=model.model_validate(body), source="/test"), values


def absent(values: list[str], *texts: str) -> None:
    for value in values:
        for text in texts:
            assert value not in text


def test_every_message_with_personal_fields_is_sampled_and_its_paths_are_strings() -> None:
    assert sorted(SAMPLES) == PERSONAL_TYPES
    for type_name in PERSONAL_TYPES:
        body = SAMPLES[type_name]().model_dump(mode="json")
        for path in registered_messages()[type_name].PERSONAL:
            holder, name = slot(body, path)
            assert isinstance(holder[name], str), (type_name, path)


@pytest.mark.parametrize("type_name", PERSONAL_TYPES)
def test_on_pubsub_the_personal_fields_are_sealed_and_come_back_equal(type_name: str) -> None:
    envelope, values = planted(type_name)
    data, attributes = envelope.to_pubsub(SEALER)
    absent(values, data.decode(), json.dumps(attributes))
    assert Envelope.from_pubsub(data, attributes, SEALER) == envelope
    body = {"message": {"data": base64.b64encode(data).decode(), "attributes": attributes}}
    assert from_eventarc(PUBSUB_PUBLISHED, body, SEALER) == envelope


@pytest.mark.parametrize("type_name", PERSONAL_TYPES)
def test_in_a_stored_copy_the_personal_fields_are_sealed_and_come_back_equal(
    type_name: str,
) -> None:
    envelope, values = planted(type_name)
    document = envelope.to_json(SEALER)
    absent(values, json.dumps(document))
    assert Envelope.from_json(document, SEALER) == envelope

    # An inbox record's outbox, as the MessageProcessor given a cipher keeps it.
    outbox = [OutboxEntry("some-topic", envelope)]
    record = {"outbox": stored_outbox(outbox, SEALER.cipher, "record-1")}
    absent(values, json.dumps(record))
    assert recorded_outbox(record, SEALER.cipher, "record-1") == outbox


@pytest.mark.parametrize("type_name", PERSONAL_TYPES)
def test_the_publishers_seal_what_they_send(type_name: str) -> None:
    envelope, values = planted(type_name)
    memory = InMemoryPublisher(SEALER)
    memory.publish("some-topic", [envelope])
    [(data, _)] = memory.raw_sent["some-topic"]
    absent(values, data.decode())
    assert memory.messages("some-topic") == [envelope]

    sent: list[bytes] = []
    PubSubPublisher("p", sealer=SEALER, client=_Recording(sent)).publish("t", [envelope])
    absent(values, sent[0].decode())
    assert SEALED_PREFIX in sent[0].decode()


def test_a_function_reads_the_message_opened_and_rejects_one_that_does_not_open() -> None:
    envelope, values = planted(CreateSubscription.TYPE)
    data, attributes = envelope.to_pubsub(SEALER)
    publisher = InMemoryPublisher(SEALER)
    seen: list[Envelope] = []

    def handle(envelope: Envelope) -> str:
        seen.append(envelope)
        return "applied"

    def deliver(raw: bytes) -> None:
        event = _Event(pushed(raw, attributes, "m-1"))
        consume(
            event, CreateSubscription, handle,
            function="f", context=NAMES, publisher=publisher, sealer=SEALER,
        )  # fmt: skip

    deliver(data)
    assert seen == [envelope]

    tampered = _retokened(data, "client.email", lambda t: t[:-4] + "AAAA")
    deliver(tampered)
    assert seen == [envelope]  # not handled: kept on the dead-letter topic, announced
    [(kept, _)] = publisher.raw[NAMES.dead_letter_topic]
    assert kept == tampered
    [failure] = publisher.messages(NAMES.events_topic)
    assert failure.payload.reason == "sealed_field_unreadable"  # type: ignore[attr-defined]
    assert failure.payload.field == "client.email"  # type: ignore[attr-defined]
    absent(values, json.dumps(failure.to_json()))


def test_a_sealed_value_opens_only_in_its_message_its_field_and_with_its_key() -> None:
    envelope, _ = planted(CreateSubscription.TYPE)
    data, attributes = envelope.to_pubsub(SEALER)
    with pytest.raises(InvalidMessage) as wrong_key:
        Envelope.from_pubsub(data, attributes, OTHER_KEY)
    assert wrong_key.value.reason == "sealed_field_unreadable"

    other, _ = planted(CreateSubscription.TYPE)  # another id
    other_data, other_attributes = other.to_pubsub(SEALER)
    email = json.loads(data)["client"]["email"]
    copied = _retokened(other_data, "client.email", lambda _: email)
    with pytest.raises(InvalidMessage):
        Envelope.from_pubsub(copied, other_attributes, SEALER)

    moved = _retokened(data, "client.national_id", lambda _: email)
    with pytest.raises(InvalidMessage) as caught:
        Envelope.from_pubsub(moved, attributes, SEALER)
    assert caught.value.field == "client.national_id"
    assert "qz" not in str(caught.value)


def test_a_value_still_in_clear_is_read() -> None:
    # Published before the fields were sealed: in flight when this was deployed.
    envelope, _ = planted(CreateSubscription.TYPE)
    clear = envelope.payload.model_dump_json().encode()
    _, attributes = envelope.to_pubsub(SEALER)
    assert Envelope.from_pubsub(clear, attributes, SEALER) == envelope
    stored = {**envelope.to_json(SEALER), "data": envelope.payload.model_dump(mode="json")}
    assert Envelope.from_json(stored, SEALER) == envelope


def test_without_a_field_key_nothing_personal_is_serialized() -> None:
    envelope, _ = planted(CreateSubscription.TYPE)
    for serialize in (
        envelope.to_pubsub,
        envelope.to_json,
        lambda: envelope.to_pubsub(NO_KEY),
        lambda: envelope.to_json(NO_KEY),
        lambda: InMemoryPublisher(NO_KEY).publish("t", [envelope]),
        lambda: PubSubPublisher("p", client=_Recording([])).publish("t", [envelope]),
        lambda: stored_outbox([OutboxEntry("t", envelope)], None, "record-1"),
    ):
        with pytest.raises(FieldKeyMissing, match=r"must be set|no field cipher|no outbox_cipher"):
            serialize()
    # Reading a sealed one is refused too (not poison: the message is fine, the key is not
    # mounted), while a message without personal fields goes on as before.
    data, attributes = envelope.to_pubsub(SEALER)
    with pytest.raises(FieldKeyMissing):
        Envelope.from_pubsub(data, attributes, NO_KEY)
    pay = Envelope(payload=PaySubscription(subscription_id="s", payment_id="p", card_token="t"),
                   source="/test")  # fmt: skip
    assert Envelope.from_pubsub(*pay.to_pubsub(NO_KEY), NO_KEY) == pay


def test_a_cloud_process_without_the_key_has_a_sealer_that_refuses() -> None:
    cloud = Settings.model_construct(environment="cloud", field_encryption_key=SecretStr(""))
    sealer = MessageSealer.from_settings(cloud)
    envelope, _ = planted(CreateSubscription.TYPE)
    with pytest.raises(FieldKeyMissing, match="SALUDTECH_FIELD_ENCRYPTION_KEY"):
        envelope.to_pubsub(sealer)


def test_the_platform_hands_one_sealer_to_its_publisher_and_entry_points() -> None:
    platform = bootstrap.in_memory_platform()
    assert platform.sealer.cipher is not None
    assert platform.publisher.sealer is platform.sealer


# -- helpers -------------------------------------------------------------------------------
def _retokened(data: bytes, path: str, change: Callable[[str], str]) -> bytes:
    body = json.loads(data)
    holder, name = slot(body, path)
    holder[name] = change(holder[name])
    return json.dumps(body).encode()


class _Event:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return {"type": PUBSUB_PUBLISHED, "id": "ev-1"}[key]


class _Recording:
    """A Pub/Sub client that keeps what it is asked to publish."""

    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    def topic_path(self, project: str, topic: str) -> str:
        return f"projects/{project}/topics/{topic}"

    def publish(self, path: str, data: bytes, **attributes: str) -> futures.Future[str]:
        self.sent.append(data)
        done: futures.Future[str] = futures.Future()
        done.set_result("1")
        return done
