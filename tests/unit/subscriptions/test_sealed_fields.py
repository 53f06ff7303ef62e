"""The client's RUT, national id and email are sealed at rest (security finding 6): in the
subscription and in the inbox record's copy of SubscriptionCreated. Whoever could read them
before still reads them in clear: the aggregate, the subscription's view (the email), the
event published, again on a redelivery."""

from __future__ import annotations

from typing import Any

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.subscriptions import queries
from functions.subscriptions import wiring as subscriptions_wiring
from functions.subscriptions.messages import NAMES, SubscriptionCreated
from functions.subscriptions.unit_of_work import SubscriptionsUnitOfWork
from shared.ports.envelope import Envelope
from shared.service.field_crypto import FieldCipherError
from tests.unit.subscriptions.factories import create_command

# The client's fields as the subscription keeps them (normalized).
RUT, NATIONAL_ID, EMAIL = "12345678-5", "123457890", "pperez@example.com"


def stored_text(platform: InMemoryPlatform) -> str:
    """Every document of every collection, as text: what a reader of the database sees."""
    return repr(platform.store._docs)


def created(platform: InMemoryPlatform) -> tuple[str, Envelope]:
    command = create_command("PRO")
    envelope = Envelope(payload=command, source=NAMES.source)
    bootstrap.context(subscriptions_wiring.build).processor.process(envelope)
    return command.subscription_id, envelope


def test_nothing_stored_holds_the_clients_ids_or_email(platform: InMemoryPlatform) -> None:
    sid, _ = created(platform)
    text = stored_text(platform)
    assert sid in text  # the subscription and its inbox record are there
    for planted in (RUT, NATIONAL_ID, EMAIL, "12.345.678-5"):
        assert planted not in text
    client = platform.store.get("subscriptions", sid)["client"]  # type: ignore[index]
    assert {"rut_sealed", "national_id_sealed", "email_sealed"} <= set(client)


def test_the_event_the_view_and_the_aggregate_answer_them_in_clear(
    platform: InMemoryPlatform,
) -> None:
    sid, envelope = created(platform)
    w = bootstrap.context(subscriptions_wiring.build)
    [event] = [e.payload for e in platform.publisher.messages(NAMES.events_topic)]
    assert isinstance(event, SubscriptionCreated) and event.client_email == EMAIL

    view = queries.get_subscription(platform.store, sid, w.client)
    assert view is not None and view["client"]["email"] == EMAIL
    assert not {"rut", "national_id"} & set(view["client"])
    assert not any(key.endswith("_sealed") for key in view["client"])
    listed = queries.subscriptions_of_client(platform.store, "0001", w.client)["items"]
    assert [item["client"]["email"] for item in listed] == [EMAIL]

    def load(tx: Any) -> tuple[str, str, str]:
        client = SubscriptionsUnitOfWork(tx, w.client).subscriptions.get(sid).client  # type: ignore[union-attr]
        return client.rut, client.national_id, client.email

    assert platform.store.run_in_transaction(load) == (RUT, NATIONAL_ID, EMAIL)

    # A redelivery publishes the copy its inbox record kept, opened: the very same event.
    first = platform.publisher.messages(NAMES.events_topic)
    again = w.processor.process(envelope)
    assert again.duplicate
    assert [e.envelope for e in again.outbox] == first


def test_a_sealed_value_copied_onto_another_subscription_does_not_open(
    platform: InMemoryPlatform,
) -> None:
    first, _ = created(platform)
    second, _ = created(platform)
    w = bootstrap.context(subscriptions_wiring.build)
    stolen = platform.store.get("subscriptions", first)["client"]["email_sealed"]  # type: ignore[index]
    document = platform.store.get("subscriptions", second)
    assert document is not None
    document["client"]["email_sealed"] = stolen
    platform.store.run_in_transaction(lambda tx: tx.put("subscriptions", second, document))
    with pytest.raises(FieldCipherError):
        queries.get_subscription(platform.store, second, w.client)
