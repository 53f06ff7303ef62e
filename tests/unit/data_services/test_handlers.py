"""Creation, experts and their load, through the functions and the idempotent processor."""

from __future__ import annotations

import random

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services import queries
from functions.data_services.messages import AssignExpert, CancelDataService, SubmitDataRequest
from functions.ingestion.messages import ImageAnonymized
from shared.domain.errors import TransientError
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver
from tests.unit.data_services.factories import (
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
    """The load the registry shows: counted from the expert's slots (ADR 0014)."""
    view = queries.get_expert(platform.store, the_wiring().collections, code)
    assert view is not None
    return int(view["load"])


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
        ({"client_code": "0002"}, "unknown_client"),
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


# -- the client's data request: what the saga's data service is made of ---------------------
def _request(**changes: object) -> SubmitDataRequest:
    body: dict[str, object] = {
        "subscription_id": "sub-1",
        "dataset": {"code": "neuro", "criteria": {"anatomical_region": "head"}},
        "cloud": {"code": "c1", "type": "bucket"},
        **changes,
    }
    return SubmitDataRequest.model_validate(body)


@pytest.mark.usefixtures("registry")
def test_a_create_from_the_client_request_takes_its_dataset_cloud_and_speciality(
    platform: InMemoryPlatform,
) -> None:
    send(_request(speciality="neuro"))
    assert last_event(platform).dataset_code == "neuro"
    standard = create_command(cloud_type="links")
    send(standard.model_copy(update={"from_client_request": True}))
    stored = platform.store.get("data_services", standard.data_service_id)
    assert stored is not None
    assert (stored["dataset"]["code"], stored["cloud"]["type"], stored["speciality"]) == (
        "neuro", "bucket", "NEURO",
    )  # fmt: skip
    assert stored["dataset"]["criteria"]["anatomical_region"] == "HEAD"
    plain = create_command(cloud_type="links")  # without the flag: the command's own
    send(plain)
    other = platform.store.get("data_services", plain.data_service_id)
    assert other is not None and other["dataset"]["code"] == "chest-ct"


@pytest.mark.usefixtures("registry")
def test_without_a_request_the_command_dataset_is_used(platform: InMemoryPlatform) -> None:
    standard = create_command().model_copy(update={"from_client_request": True})
    send(standard)
    stored = platform.store.get("data_services", standard.data_service_id)
    assert stored is not None and stored["dataset"]["code"] == "chest-ct"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"cloud": {"code": "c", "type": "ftp"}}, "unknown_cloud_type"),
        ({"dataset": {"code": "d", "criteria": {"max_images": 10**6}}}, "dataset_exceeds_plan"),
        ({"dataset": {"code": "no spaces"}}, "invalid_dataset_code"),
    ],
)
def test_a_request_no_service_could_meet_is_refused(
    platform: InMemoryPlatform, changes: dict[str, object], reason: str
) -> None:
    send(subscription_created())
    send(_request(**changes))
    assert last_event(platform).reason == reason
    assert platform.store.get("data_services_requests", "sub-1") is None


def test_a_request_for_a_subscription_not_projected_yet_is_retried(
    platform: InMemoryPlatform,
) -> None:
    with pytest.raises(TransientError):
        send(_request())
