"""Drive the data_services functions as Pub/Sub would, on the in-memory platform: every
message goes through main.py's function that the topology's filtered trigger names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.data_services import wiring
from functions.data_services.messages import (
    NAMES,
    AssignExpert,
    PrepareDataset,
    StartDataService,
)
from shared.domain.messages import Message
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver
from tests.unit.data_services.factories import (
    create_command,
    image_event,
    register_command,
    store_image,
    subscription_created,
)

TOPICS = {"ingestion": "ingestion-events", "subscriptions": "subscriptions-events"}


def send(payload: Message, correlation_id: str = "") -> Envelope:
    envelope = Envelope(payload=payload, source="/tests", correlation_id=correlation_id)
    topic = TOPICS.get(payload.context(), NAMES.commands_topic)
    deliver(topic, envelope)
    return envelope


def the_wiring() -> wiring.DataServicesWiring:
    return bootstrap.context(wiring.build)


@dataclass
class Pump:
    """Delivers the commands the functions publish (chunk fan-outs) until none is left."""

    platform: InMemoryPlatform
    delivered: int = 0
    seen: list[str] = field(default_factory=list)

    def pending(self) -> list[Envelope]:
        return self.platform.publisher.messages(NAMES.commands_topic)[self.delivered :]

    def run(self, limit: int = 10_000) -> int:
        count = 0
        while (pending := self.pending()) and count < limit:
            envelope = pending[0]
            self.delivered += 1
            self.seen.append(envelope.type)
            deliver(NAMES.commands_topic, envelope)
            count += 1
        return count


def events(platform: InMemoryPlatform) -> list[str]:
    return [t.split(".")[-2] for t in platform.publisher.types(NAMES.events_topic)]


def last_event(platform: InMemoryPlatform) -> Any:
    return platform.publisher.messages(NAMES.events_topic)[-1].payload


def catalogue(platform: InMemoryPlatform, count: int, **changes: Any) -> None:
    for index in range(count):
        event = image_event(index, **changes)
        store_image(platform, event)
        send(event)


def assigned_service(platform: InMemoryPlatform, **create: Any) -> str:
    """A subscription projected, the sample experts registered, a service created with an
    expert assigned: ready to start."""
    send(subscription_created())
    for index in range(3):
        send(register_command(index))
    command = create_command(anatomical_region="chest", **create)
    send(command)
    send(AssignExpert(data_service_id=command.data_service_id))
    return command.data_service_id


def prepare(service_id: str) -> Envelope:
    return send(PrepareDataset(data_service_id=service_id))


def start(platform: InMemoryPlatform, service_id: str, *, prepared: bool = False) -> Pump:
    """Prepare the dataset (unless `prepared`), then start: the pump holds the chunks."""
    if not prepared:
        prepare(service_id)
    pump = Pump(platform, delivered=len(platform.publisher.messages(NAMES.commands_topic)))
    send(StartDataService(data_service_id=service_id))
    return pump
