"""The command handlers through the idempotent processor, on in-memory adapters."""

from __future__ import annotations

import random
import uuid

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.subscriptions import wiring as subscriptions_wiring
from functions.subscriptions.handlers import Dependencies, SubscriptionNotYetKnown
from functions.subscriptions.messages import (
    NAMES,
    CancelSubscription,
    ChangePlan,
    PaySubscription,
)
from functions.subscriptions.unit_of_work import SubscriptionsUnitOfWork
from shared.domain.messages import Message
from shared.ports.envelope import Envelope
from shared.service.processing import MessageProcessor
from tests.unit.subscriptions.factories import create_command

Processor = MessageProcessor[SubscriptionsUnitOfWork, Dependencies]


@pytest.fixture
def processor(platform: InMemoryPlatform) -> Processor:
    return bootstrap.context(subscriptions_wiring.build).processor


def send(processor: Processor, payload: Message) -> Envelope:
    envelope = Envelope(payload=payload, source=NAMES.source)
    processor.process(envelope)
    return envelope


def events(platform: InMemoryPlatform) -> list[str]:
    return [t.rsplit(".", 2)[-2] for t in platform.publisher.types(NAMES.events_topic)]


def test_create_pay_change_cancel(platform: InMemoryPlatform, processor: Processor) -> None:
    create = create_command("BASIC")
    sid = create.subscription_id
    send(processor, create)
    send(processor, PaySubscription(subscription_id=sid, payment_id="p1", card_token="tok_visa"))
    send(processor, ChangePlan(subscription_id=sid, plan="PRO"))
    send(processor, CancelSubscription(subscription_id=sid, reason="done"))
    assert events(platform) == ["created", "paid", "plan_changed", "cancelled"]
    stored = platform.store.get("subscriptions", sid)
    assert stored is not None
    assert stored["status"] == "CANCELLED" and stored["_version"] == 4
    assert stored["plan"]["code"] == "PRO"


def test_events_carry_causation_and_correlation(
    platform: InMemoryPlatform, processor: Processor
) -> None:
    command = send(processor, create_command())
    [event] = platform.publisher.messages(NAMES.events_topic)
    assert event.causation_id == command.id
    assert event.correlation_id == command.correlation_id
    assert event.subject == command.subject
    assert event.source == NAMES.source


def test_a_redelivery_republishes_the_same_events_and_changes_nothing(
    platform: InMemoryPlatform, processor: Processor
) -> None:
    envelope = Envelope(payload=create_command(), source=NAMES.source)
    first = processor.process(envelope)
    again = processor.process(envelope)
    assert not first.duplicate and again.duplicate
    published = platform.publisher.messages(NAMES.events_topic)
    assert [e.id for e in published] == [first.outbox[0].envelope.id] * 2
    assert published[0].payload == published[1].payload
    assert (platform.store.get("subscriptions", envelope.subject) or {})["_version"] == 1


def test_declined_then_approved_payment(platform: InMemoryPlatform, processor: Processor) -> None:
    sid = send(processor, create_command()).subject
    send(
        processor, PaySubscription(subscription_id=sid, payment_id="p1", card_token="tok_declined")
    )
    send(processor, PaySubscription(subscription_id=sid, payment_id="p2", card_token="tok_visa"))
    assert events(platform) == ["created", "payment_declined", "paid"]
    declined = platform.publisher.messages(NAMES.events_topic)[1].payload
    assert declined.reason == "card_declined"  # type: ignore[attr-defined]


def test_refused_command_becomes_a_failure_event_once(
    platform: InMemoryPlatform, processor: Processor
) -> None:
    sid = send(processor, create_command("PRO")).subject
    envelope = Envelope(payload=ChangePlan(subscription_id=sid, plan="PRO"), source=NAMES.source)
    result = processor.process(envelope)
    assert (result.outcome, result.reason) == ("rejected", "plan_unchanged")
    assert processor.process(envelope).duplicate
    rejected = platform.publisher.messages(NAMES.events_topic)[1:]
    assert [e.type for e in rejected] == ["co.saludtech.subscriptions.command.rejected.v1"] * 2
    assert rejected[0].id == rejected[1].id
    assert rejected[0].payload.command_id == envelope.id  # type: ignore[attr-defined]
    status = bootstrap.context(subscriptions_wiring.build).commands.status(envelope.id)
    assert status is not None and status["status"] == "rejected"


def test_unknown_plan_at_the_handler_is_a_rejection(processor: Processor) -> None:
    result = processor.process(Envelope(payload=create_command("GOLD"), source=NAMES.source))
    assert result.reason == "unknown_plan"


def test_same_subscription_id_twice_is_refused(processor: Processor) -> None:
    sid = str(uuid.uuid4())
    send(processor, create_command(subscription_id=sid))
    result = processor.process(
        Envelope(payload=create_command(subscription_id=sid), source=NAMES.source)
    )
    assert result.reason == "subscription_exists"


def test_a_command_before_its_subscription_exists_is_retried_not_refused(
    processor: Processor,
) -> None:
    sid = str(uuid.uuid4())
    early = Envelope(payload=ChangePlan(subscription_id=sid, plan="BASIC"), source=NAMES.source)
    with pytest.raises(SubscriptionNotYetKnown):
        processor.process(early)
    # nothing recorded: a redelivery will apply it
    assert processor.store.get(processor.inbox_collection, early.id) is None
    send(processor, create_command("PRO", subscription_id=sid))
    assert processor.process(early).outcome == "applied"


def test_a_retried_payment_charges_once(platform: InMemoryPlatform, processor: Processor) -> None:
    sid = send(processor, create_command()).subject
    pay = Envelope(
        payload=PaySubscription(subscription_id=sid, payment_id="p1", card_token="tok_visa"),
        source=NAMES.source,
    )
    processor.process(pay)
    processor.process(pay)
    assert processor.deps.payments.gateway.charges_made == 1  # type: ignore[attr-defined]


def test_duplicates_and_any_order_give_one_effect_per_command(
    platform: InMemoryPlatform, processor: Processor
) -> None:
    """Many subscriptions, each created then paid; delivered shuffled with duplicates, and
    redelivered until every message has been accepted, as the platform would."""
    rng = random.Random(7)
    envelopes = []
    for _ in range(40):
        create = create_command(rng.choice(["BASIC", "PRO", "ENTERPRISE"]))
        envelopes.append(Envelope(payload=create, source=NAMES.source))
        pay = PaySubscription(
            subscription_id=create.subscription_id,
            payment_id=str(uuid.uuid4()),
            card_token="tok_visa",
        )
        envelopes.append(Envelope(payload=pay, source=NAMES.source))
    deliveries = envelopes + rng.sample(envelopes, 30)
    rng.shuffle(deliveries)
    while deliveries:
        envelope = deliveries.pop(0)
        try:
            processor.process(envelope)
        except SubscriptionNotYetKnown:
            deliveries.append(envelope)  # nacked: comes back later
    published = platform.publisher.messages(NAMES.events_topic)
    distinct = {e.id: e for e in published}
    kinds = sorted(e.type.rsplit(".", 2)[-2] for e in distinct.values())
    assert kinds == ["created"] * 40 + ["paid"] * 40
    for envelope in envelopes[::2]:
        stored = platform.store.get("subscriptions", envelope.subject) or {}
        assert stored["status"] == "ACTIVE" and stored["_version"] == 2
