"""A context's Pub/Sub functions are made from its HANDLERS: one per type, named after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import functions_framework._function_registry as registry
import pytest

from functions.data_services.messages import CreateDataServiceV2, DataServiceCreated
from functions.subscriptions.messages import (
    CreateSubscription,
    SubscriptionCommandRejected,
    SubscriptionCreated,
)
from shared.domain.messages import Message
from shared.entrypoints.pubsub import (
    CloudEventLike,
    consumed_type,
    entry_point_name,
    entry_points,
    handled_by,
)
from shared.ports.envelope import Envelope
from shared.service.context import ContextNames
from shared.service.dead_letters import DeadLetterLog
from shared.service.processing import Consumer, processor_handlers
from tests.support.cloud_events import pubsub_event

NAMES = ContextNames(name="shop", rejection=SubscriptionCommandRejected)


def create(message: Any, uow: Any, deps: Any) -> None:
    """A processor handler."""


@dataclass
class Projector:
    seen: list[str]

    def project(self, envelope: Envelope) -> str:
        self.seen.append(envelope.type)
        return "projected"


def no_dead_letters() -> DeadLetterLog:
    raise AssertionError("not asked for")


@pytest.mark.parametrize(
    ("message_type", "name"),
    [
        (CreateSubscription, "shop_create_subscription"),
        (CreateDataServiceV2, "shop_create_data_service_v2"),
        (SubscriptionCreated, "shop_on_subscription_created"),
    ],
)
def test_a_command_names_its_function_and_an_event_is_reacted_on(
    message_type: type[Message], name: str
) -> None:
    assert entry_point_name("shop", message_type) == name


def test_one_registered_function_per_type_and_a_dead_letter_recorder() -> None:
    calls: list[tuple[type[Message], str]] = []

    def consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
        calls.append((expects, function))

    made = entry_points(
        NAMES,
        {CreateSubscription: create, SubscriptionCreated: Consumer(Projector.project)},
        consume,
        no_dead_letters,
        renamed={SubscriptionCreated: "shop_project_subscription"},
    )

    assert list(made) == [
        "shop_create_subscription",
        "shop_project_subscription",
        "shop_record_dead_letter",
    ]
    for name, function in made.items():
        # functions-framework finds a target's signature type under the function's name; an
        # HTTP function, since it reads Pub/Sub's push body itself (shared/entrypoints/pushed.py).
        assert function.__name__ == name
        assert registry.REGISTRY_MAP[name] == registry.HTTP_SIGNATURE_TYPE
    assert consumed_type(made["shop_create_subscription"]) is CreateSubscription
    assert consumed_type(made["shop_record_dead_letter"]) is None
    assert "test_entry_points.create" in (made["shop_create_subscription"].__doc__ or "")
    answer = made["shop_project_subscription"](pubsub_event(b"{}", {}))
    assert answer.status_code == 204
    assert calls == [(SubscriptionCreated, "shop_project_subscription")]


def test_a_stale_or_clashing_name_is_refused() -> None:
    def consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
        pass

    with pytest.raises(ValueError, match="does not handle"):
        entry_points(
            NAMES, {CreateSubscription: create}, consume, no_dead_letters,
            renamed={SubscriptionCreated: "shop_project_subscription"},
        )  # fmt: skip
    with pytest.raises(ValueError, match="named shop_create_subscription"):
        entry_points(
            NAMES, {CreateSubscription: create, SubscriptionCreated: create}, consume,
            no_dead_letters, renamed={SubscriptionCreated: "shop_create_subscription"},
        )  # fmt: skip


@dataclass
class Processor:
    """Stands for a MessageProcessor: what it was handed."""

    processed: list[str]

    def process(self, envelope: Envelope) -> Any:
        self.processed.append(envelope.type)
        return type("Processed", (), {"outcome": "applied"})


def test_a_consumer_runs_on_its_service_and_a_handler_through_the_processor() -> None:
    projector, processor = Projector(seen=[]), Processor(processed=[])
    event = Envelope(payload=DataServiceCreated.model_construct(), source="/t", id="e-1")
    services = (object(), projector)

    assert handled_by(Consumer(Projector.project), processor, *services)(event) == "projected"  # type: ignore[arg-type]
    assert handled_by(create, processor, *services)(event) == "applied"  # type: ignore[arg-type]
    assert (projector.seen, processor.processed) == ([event.type], [event.type])
    with pytest.raises(LookupError):
        handled_by(Consumer(Projector.project), processor, object())  # type: ignore[arg-type]


def test_the_processor_runs_the_handlers_of_both_maps_and_no_consumer() -> None:
    consumer = Consumer(Projector.project)
    handlers = processor_handlers(
        {CreateSubscription: create, SubscriptionCreated: consumer},
        {SubscriptionCreated: create},
    )
    assert handlers == {CreateSubscription: create, SubscriptionCreated: create}
    with pytest.raises(ValueError, match="two processor handlers"):
        processor_handlers({CreateSubscription: create}, {CreateSubscription: create})
