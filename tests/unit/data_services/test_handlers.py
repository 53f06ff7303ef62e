"""Creation, experts and their load, through the functions and the idempotent processor."""

from __future__ import annotations

import random

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import AssignExpert, CancelDataService
from functions.ingestion.messages import ImageAnonymized
from shared.domain.errors import TransientError
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver
from tests.unit.data_services.factories import (
    CLIENT,
    create_command,
    image_event,
    register_command,
    subscription_created,
)
from tests.unit.data_services.flow import events, last_event, send, the_wiring


@pytest.fixture
def registry(platform: InMemoryPlatform) -> None:
    send(subscription_created())
    for index in range(3):
        send(register_command(index))


def expert_load(platform: InMemoryPlatform, code: str) -> int:
    document = platform.store.get("data_services_experts", code)
    assert document is not None
    return len(document["assignments"])


def test_a_create_for_a_subscription_not_projected_yet_is_retried(
    platform: InMemoryPlatform,
) -> None:
    with pytest.raises(TransientError):
        send(create_command(subscription_id="sub-later"))
    send(subscription_created("sub-later"))
    send(create_command(subscription_id="sub-later"))
    assert events(platform)[-1] == "created"


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize(
    ("create", "reason"),
    [
        ({"client": CLIENT.model_copy(update={"code": "0002"})}, "unknown_client"),
        ({"plan": "BASIC"}, "unknown_plan"),
        ({"expert_code": "EXP-404"}, "unknown_expert"),
        ({"expert_code": "EXP-003"}, "expert_speciality_mismatch"),
    ],
)
def test_create_is_rejected_with_a_reason(
    platform: InMemoryPlatform, create: dict[str, object], reason: str
) -> None:
    command = create_command(anatomical_region="chest", **create)  # type: ignore[arg-type]
    envelope = send(command, correlation_id="saga-1")
    rejection = platform.publisher.messages("data-services-events")[-1]
    assert rejection.payload.reason == reason  # type: ignore[attr-defined]
    assert rejection.correlation_id == "saga-1" and rejection.causation_id == envelope.id
    assert platform.store.get("data_services", command.data_service_id) is None


@pytest.mark.usefixtures("registry")
def test_assignment_by_load_then_no_expert_available(platform: InMemoryPlatform) -> None:
    # CHEST: EXP-001 (capacity 3) and EXP-002 (capacity 2): five places in all.
    services = [create_command(anatomical_region="chest") for _ in range(6)]
    for command in services:
        send(command)
        send(AssignExpert(data_service_id=command.data_service_id))
    assert expert_load(platform, "EXP-001") == 3 and expert_load(platform, "EXP-002") == 2
    assert last_event(platform).reason == "no_expert_available"
    send(CancelDataService(data_service_id=services[0].data_service_id, reason="budget"))
    send(AssignExpert(data_service_id=services[-1].data_service_id))
    assert events(platform)[-1] == "expert_assigned"


@pytest.mark.usefixtures("registry")
def test_reassignment_moves_the_load(platform: InMemoryPlatform) -> None:
    command = create_command(anatomical_region="chest", expert_code="EXP-001")
    send(command)
    send(AssignExpert(data_service_id=command.data_service_id))
    assert expert_load(platform, "EXP-001") == 0 and expert_load(platform, "EXP-002") == 1
    assigned = last_event(platform)
    assert (assigned.expert_code, assigned.previous_expert_code) == ("EXP-002", "EXP-001")


@pytest.mark.usefixtures("registry")
def test_events_never_carry_the_experts_or_clients_personal_data(
    platform: InMemoryPlatform,
) -> None:
    command = create_command(anatomical_region="chest", expert_code="EXP-001")
    send(command)
    published = b"".join(
        e.to_pubsub()[0] for e in platform.publisher.messages("data-services-events")
    )
    for value in ("15.111.222-3", "csoto@example.com", "Camila", "Pablo", "Perez"):
        assert value.encode() not in published


def test_the_catalogue_projection_rebuilds_from_zero(platform: InMemoryPlatform) -> None:
    history: list[ImageAnonymized] = [image_event(i) for i in range(40)]
    history += [image_event(i, pathology="EFFUSION") for i in range(5)]  # re-ingested later
    envelopes = [
        Envelope(
            payload=event,
            source="/saludtech/ingestion",
            time=f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}.000Z",
        )
        for i, event in enumerate(history)
    ]
    for envelope in envelopes:
        deliver("ingestion-events", envelope)
    replay = random.Random(3).sample(envelopes, len(envelopes)) + envelopes[:10]  # any order, twice
    the_wiring().projections.rebuild_catalogue(replay, "rebuilt")
    built = platform.store.query("data_services_catalogue", limit=100).items
    rebuilt = platform.store.query("rebuilt", limit=100).items
    assert len(built) == 40 and built == rebuilt
    assert [d["pathology"] for _, d in built[:6]] == ["EFFUSION"] * 5 + ["NODULE"]
