"""A data request reserves a slot of its speciality for its subscription until the buyer
pays (docs/decisions/0014-expert-capacity.md "Reservations"): capacity that runs out is
refused before the payment, and the paid service is assigned the slot it reserved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services import wiring
from functions.data_services.experts import ExpertError
from functions.data_services.handlers import (
    assign_expert,
    create_data_service,
    register_expert,
    submit_data_request,
)
from functions.data_services.messages import (
    NAMES,
    AssignExpert,
    DataServicesCommandRejected,
    SubmitDataRequest,
)
from shared.adapters.counting import Counters
from shared.domain.clock import FixedClock
from shared.platform import Platform
from shared.ports.documents import DocumentTransaction, Filter
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver
from tests.unit.data_services.factories import (
    create_command,
    register_command,
    subscription_created,
)
from tests.unit.data_services.flow import send
from tests.unit.data_services.test_expert_slots import Interleaved, World

SLOTS = "data_services_expert_slots"


def _request(subscription_id: str = "sub-1", speciality: str = "abdomen") -> SubmitDataRequest:
    return SubmitDataRequest(
        subscription_id=subscription_id,
        dataset=create_command().dataset,
        cloud=create_command().cloud,
        speciality=speciality,
    )


class Reservations(World):
    clock: FixedClock

    def reserved_for(self, subscription_id: str) -> list[dict[str, Any]]:
        page = self.wiring.platform.store.query(
            SLOTS, [Filter("reserved_for", "==", subscription_id)], limit=10
        )
        return [doc for _, doc in page.items]

    def service(self, subscription_id: str) -> str:
        command = create_command(anatomical_region="abdomen", subscription_id=subscription_id)
        self.run(create_data_service, command)
        return command.data_service_id

    def held(self, data_service_id: str) -> str:
        page = self.wiring.platform.store.query(
            SLOTS, [Filter("data_service_id", "==", data_service_id)], limit=10
        )
        [(slot, _)] = page.items
        return slot


def _world(platform: InMemoryPlatform, capacity: int) -> Reservations:
    """EXP-002 (CHEST, ABDOMEN) of `capacity` slots, subscriptions sub-1..sub-3, a clock
    that moves only when told."""
    clock = FixedClock(datetime(2026, 12, 5, 12, tzinfo=UTC))
    w = wiring.build(
        Platform(
            settings=platform.settings,
            store=platform.store,
            publisher=platform.publisher,
            blobs=platform.blobs,
            clock=clock,
            doors=platform.doors,
            sealer=platform.sealer,
        )
    )

    def project(tx: DocumentTransaction) -> None:
        for name in ("sub-1", "sub-2", "sub-3"):
            subscription = {"subscription_id": name, "client_code": "0001", "plan": "PRO"}
            tx.put(w.collections.subscriptions, name, subscription)

    platform.store.run_in_transaction(project)
    made = Reservations(w, Interleaved(platform.store), Counters())
    made.clock = clock
    made.run(register_expert, register_command(1, capacity=capacity))
    return made


def test_a_data_request_reserves_one_slot_per_subscription_and_no_load(
    platform: InMemoryPlatform,
) -> None:
    world = _world(platform, capacity=3)
    world.run(submit_data_request, _request())
    [slot] = world.reserved_for("sub-1")
    assert slot["expert_code"] == "EXP-002" and slot["data_service_id"] is None
    assert slot["reserved_until"] == "2026-12-06T12:00:00.000Z"  # 24 h to pay
    world.clock.advance(hours=1)
    world.run(submit_data_request, _request())  # a second request keeps it, a new deadline
    [again] = world.reserved_for("sub-1")
    assert again["number"] == slot["number"]
    assert again["reserved_until"] == "2026-12-06T13:00:00.000Z"
    view = world.view("EXP-002")
    assert view["load"] == 0 and view["assignments"] == []  # a reservation is no load


def test_a_request_for_another_speciality_moves_the_reservation(
    platform: InMemoryPlatform,
) -> None:
    world = _world(platform, capacity=3)
    world.run(register_expert, register_command(0, capacity=3))  # EXP-001: CHEST, GENERAL
    world.run(submit_data_request, _request(speciality="abdomen"))
    assert [s["expert_code"] for s in world.reserved_for("sub-1")] == ["EXP-002"]
    world.run(submit_data_request, _request(speciality="general"))
    assert [s["expert_code"] for s in world.reserved_for("sub-1")] == ["EXP-001"]


def test_capacity_reserved_is_refused_before_the_payment_until_it_expires(
    platform: InMemoryPlatform,
) -> None:
    world = _world(platform, capacity=1)
    world.run(submit_data_request, _request("sub-1"))
    with pytest.raises(ExpertError) as refused:
        world.run(submit_data_request, _request("sub-2"))
    assert (refused.value.reason, refused.value.field) == ("no_expert_capacity", "speciality")
    assert world.reserved_for("sub-2") == []
    other = world.service("sub-3")  # a service of a subscription that reserved nothing
    with pytest.raises(ExpertError) as busy:
        world.run(assign_expert, AssignExpert(data_service_id=other))
    assert busy.value.reason == "no_expert_available"
    world.clock.advance(hours=24, seconds=1)  # sub-1 did not pay in time: the slot is free
    world.run(submit_data_request, _request("sub-2"))
    assert len(world.reserved_for("sub-2")) == 1 and world.reserved_for("sub-1") == []


def test_an_expired_reservation_is_free_for_an_assignment(platform: InMemoryPlatform) -> None:
    world = _world(platform, capacity=1)
    world.run(submit_data_request, _request("sub-1"))
    other = world.service("sub-3")
    with pytest.raises(ExpertError):  # held for sub-1 while it may pay
        world.run(assign_expert, AssignExpert(data_service_id=other))
    world.clock.advance(hours=25)
    world.run(assign_expert, AssignExpert(data_service_id=other))
    assert world.held(other) == "EXP-002.0"
    assert world.reserved_for("sub-1") == []  # taken: the reservation ended


def test_the_paid_service_is_assigned_the_slot_its_request_reserved(
    platform: InMemoryPlatform,
) -> None:
    world = _world(platform, capacity=3)
    world.run(submit_data_request, _request("sub-1"))
    [reserved] = world.reserved_for("sub-1")
    others = [world.service("sub-3") for _ in range(3)]
    for service_id in others[:2]:
        world.run(assign_expert, AssignExpert(data_service_id=service_id))
    with pytest.raises(ExpertError):  # every other slot is full
        world.run(assign_expert, AssignExpert(data_service_id=others[2]))
    paid = world.service("sub-1")
    world.run(assign_expert, AssignExpert(data_service_id=paid))
    assert world.held(paid) == f"EXP-002.{reserved['number']}"
    assert world.reserved_for("sub-1") == []  # converted
    assert world.view("EXP-002")["load"] == 3


def test_duplicates_of_the_request_reserve_once(platform: InMemoryPlatform) -> None:
    send(subscription_created("sub-1"))
    send(subscription_created("sub-2"))
    send(register_command(1, capacity=1))
    envelope = Envelope(payload=_request("sub-1"), source="/tests")
    deliver(NAMES.commands_topic, envelope)
    [first] = _reserved(platform, "sub-1")
    deliver(NAMES.commands_topic, envelope)  # redelivered: the same command
    assert _reserved(platform, "sub-1") == [first]
    send(_request("sub-2"))
    refused = [
        e.payload.reason
        for e in platform.publisher.messages(NAMES.events_topic)
        if isinstance(e.payload, DataServicesCommandRejected)
    ]
    assert refused == ["no_expert_capacity"]  # the command status shows it, before payment


def _reserved(platform: InMemoryPlatform, subscription_id: str) -> list[dict[str, Any]]:
    page = platform.store.query(SLOTS, [Filter("reserved_for", "==", subscription_id)], limit=9)
    return [doc for _, doc in page.items]
