"""An expert's capacity as slots (docs/decisions/0014-expert-capacity.md): concurrent
assignments take different slots and never write an expert's document; a release frees the
slot; the services experts' documents listed before move into slots; a data request no slot
is free for is refused before the payment."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import functions_framework
import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services import expert_slots, queries, wiring
from functions.data_services.experts import ExpertError
from functions.data_services.handlers import (
    assign_expert,
    cancel_data_service,
    create_data_service,
    register_expert,
    retire_expert,
)
from functions.data_services.messages import (
    AssignExpert,
    CancelDataService,
    ExpertRetired,
    RetireExpert,
)
from functions.data_services.unit_of_work import DataServicesUnitOfWork
from shared.adapters.counting import Counters, CountingDocumentStore
from shared.domain.errors import PermanentError, TransientError
from shared.domain.messages import Message
from shared.platform import Platform
from shared.ports.documents import DocumentStore, DocumentTransaction
from tests.unit.data_services.factories import create_command, register_command
from tests.unit.data_services.flow import the_wiring
from tests.unit.data_services.test_entrypoints import MAIN
from tools import migrate_expert_slots

T = TypeVar("T")
EXPERTS = "data_services_experts"
SLOTS = "data_services_expert_slots"


class Interleaved:
    """A store whose transactions, while `barrier` is set, all read before any of them
    commits (their first attempts wait for each other at the commit): concurrent
    assignments as N functions would run them, at their worst."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.barrier: threading.Barrier | None = None
        self.waited: set[int] = set()  # the threads past it: their redeliveries run freely

    def run_in_transaction(self, work: Callable[[DocumentTransaction], T]) -> T:
        attempts = 0

        def held(tx: DocumentTransaction) -> T:
            nonlocal attempts
            attempts += 1
            result = work(tx)
            first = attempts == 1 and threading.get_ident() not in self.waited
            if first and self.barrier is not None:
                self.waited.add(threading.get_ident())
                self.barrier.wait()
            return result

        return self.inner.run_in_transaction(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclasses.dataclass
class World:
    wiring: wiring.DataServicesWiring
    interleaved: Interleaved
    counters: Counters
    busy: int = 0  # ExpertsBusy and conflicts: redelivered, as Pub/Sub would

    def run(self, handler: Callable[..., None], command: Message) -> list[Any]:
        """The handler in one transaction, redelivered while transient; its events."""
        for _ in range(10):
            try:
                return self.wiring.platform.store.run_in_transaction(
                    lambda tx: _handled(tx, self.wiring, handler, command)
                )
            except TransientError:
                self.busy += 1
        raise AssertionError("still transient after 10 deliveries")

    def services(self, count: int, subscription_id: str = "sub-1") -> list[str]:
        ids = []
        for _ in range(count):
            command = create_command(anatomical_region="chest", subscription_id=subscription_id)
            self.run(create_data_service, command)
            ids.append(command.data_service_id)
        return ids

    def writes(self, collection: str) -> int:
        return self.counters[f"firestore.writes:{collection}"]

    def view(self, code: str) -> dict[str, Any]:
        shown = queries.get_expert(self.wiring.platform.store, self.wiring.collections, code)
        assert shown is not None
        return shown

    def expert_of(self, data_service_id: str) -> str | None:
        stored = self.wiring.platform.store.get(self.wiring.collections.services, data_service_id)
        assert stored is not None
        return stored.get("expert_code")


def _handled(
    tx: DocumentTransaction,
    w: wiring.DataServicesWiring,
    handler: Callable[..., None],
    command: Message,
) -> list[Any]:
    uow = DataServicesUnitOfWork(tx, w.collections)
    handler(command, uow, w.processor.deps)
    return uow.stage_changes()


def _project_subscription(store: DocumentStore, collection: str, name: str = "sub-1") -> None:
    subscription = {"subscription_id": name, "client_code": "0001", "plan": "PRO"}
    store.run_in_transaction(lambda tx: tx.put(collection, name, subscription))


@pytest.fixture
def world(platform: InMemoryPlatform) -> World:
    """Two CHEST experts of 10 slots each (EXP-001, EXP-002), over a counting store."""
    counters = Counters()
    interleaved = Interleaved(platform.store)
    store = CountingDocumentStore(interleaved, counters)
    w = wiring.build(
        Platform(
            settings=platform.settings,
            store=store,
            publisher=platform.publisher,
            blobs=platform.blobs,
            clock=platform.clock,
            doors=platform.doors,
            sealer=platform.sealer,
        )
    )
    _project_subscription(store, w.collections.subscriptions)
    made = World(w, interleaved, counters)
    for index in (0, 1):
        made.run(register_expert, register_command(index, capacity=10))
    return made


def _concurrently(world: World, service_ids: list[str]) -> None:
    world.interleaved.barrier = threading.Barrier(len(service_ids), timeout=30)
    failures: list[BaseException] = []

    def assign(service_id: str) -> None:
        try:
            world.run(assign_expert, AssignExpert(data_service_id=service_id))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=assign, args=(s,)) for s in service_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.interleaved.barrier = None
    world.interleaved.waited.clear()
    assert failures == []


def test_concurrent_assignments_all_succeed_while_slots_last_and_write_no_expert(
    world: World,
) -> None:
    services = world.services(20)  # as many as there are slots
    experts_before, slots_before = world.writes(EXPERTS), world.writes(SLOTS)
    _concurrently(world, services)
    assert all(world.expert_of(s) in ("EXP-001", "EXP-002") for s in services)
    assert world.writes(EXPERTS) == experts_before  # no hot document
    assert world.writes(SLOTS) == slots_before + 20  # one slot each, created
    loads = {code: world.view(code) for code in ("EXP-001", "EXP-002")}
    assert all(v["load"] == len(v["assignments"]) <= v["capacity"] for v in loads.values())
    assert sorted(s for v in loads.values() for s in v["assignments"]) == sorted(services)
    [late] = world.services(1)
    with pytest.raises(ExpertError) as refused:
        world.run(assign_expert, AssignExpert(data_service_id=late))
    assert refused.value.reason == "no_expert_available"


def test_concurrent_assignments_spread_over_the_experts(world: World) -> None:
    services = world.services(12)
    _concurrently(world, services)
    experts = [world.expert_of(s) for s in services]
    assert 2 <= experts.count("EXP-001") <= 10 and None not in experts


def test_a_release_frees_the_slot_for_the_next_service(world: World) -> None:
    services = world.services(21)
    for service_id in services[:20]:
        world.run(assign_expert, AssignExpert(data_service_id=service_id))
    first = services[0]
    code = world.expert_of(first)
    assert code is not None
    [held] = expert_slots.slots_held_by(
        world.wiring.platform.store, world.wiring.collections, first
    )
    world.run(cancel_data_service, CancelDataService(data_service_id=first, reason="budget"))
    freed = world.wiring.platform.store.get(SLOTS, held)
    assert freed is not None and freed["data_service_id"] is None and freed["taken"] is False
    assert world.view(code)["load"] == 9
    world.run(assign_expert, AssignExpert(data_service_id=services[20]))
    again = world.wiring.platform.store.get(SLOTS, held)
    assert again is not None and again["data_service_id"] == services[20]


def test_a_reassignment_moves_the_service_to_a_slot_of_another_expert(world: World) -> None:
    [service_id] = world.services(1)
    world.run(assign_expert, AssignExpert(data_service_id=service_id, expert_code="EXP-001"))
    world.run(assign_expert, AssignExpert(data_service_id=service_id))
    assert world.expert_of(service_id) == "EXP-002"
    assert world.view("EXP-001")["load"] == 0 and world.view("EXP-002")["load"] == 1


def test_retiring_counts_the_slots_and_a_capacity_below_a_held_slot_is_refused(
    world: World,
) -> None:
    command = create_command(anatomical_region="chest").model_copy(
        update={"data_service_id": "ds-slot-test-1"}  # ranked in a slot beyond 0
    )
    world.run(create_data_service, command)
    service_id = command.data_service_id
    world.run(assign_expert, AssignExpert(data_service_id=service_id, expert_code="EXP-001"))
    [held] = expert_slots.slots_held_by(
        world.wiring.platform.store, world.wiring.collections, service_id
    )
    number = int(held.rsplit(".", 1)[1])
    assert number >= 1
    with pytest.raises(PermanentError) as refused:  # a load of 1, held beyond the capacity
        world.run(register_expert, register_command(0, capacity=number))
    assert refused.value.reason == "capacity_below_load"
    world.run(register_expert, register_command(0, capacity=number + 1))  # it still fits
    [retired] = world.run(retire_expert, RetireExpert(expert_code="EXP-001"))
    assert isinstance(retired, ExpertRetired) and retired.assignments == 1


# -- before the slots: the services an expert's document lists --------------------------------
def _listed(world: World, code: str, service_ids: list[str]) -> None:
    """What an expert's and its services' documents held when assignments were listed."""
    store, c = world.wiring.platform.store, world.wiring.collections

    def write(tx: DocumentTransaction) -> None:
        expert = tx.get(c.experts, code)
        assert expert is not None
        tx.put(c.experts, code, {**expert, "assignments": service_ids, "load": len(service_ids)})
        for service_id in service_ids:
            service = tx.get(c.services, service_id)
            assert service is not None
            assigned = {"expert_code": code, "status": "EXPERT_ASSIGNED", "assigned_at": "x"}
            tx.put(c.services, service_id, {**service, **assigned})

    store.run_in_transaction(write)


def test_listed_services_count_until_the_migration_moves_them_into_slots(world: World) -> None:
    world.run(register_expert, register_command(1, capacity=3, specialities=["ABDOMEN"]))
    listed = world.services(3)
    _listed(world, "EXP-001", listed[:2])
    world.run(register_expert, register_command(0, capacity=3))
    assert world.view("EXP-001")["load"] == 2
    world.run(assign_expert, AssignExpert(data_service_id=listed[2]))  # the one slot left
    assert world.view("EXP-001")["assignments"] == listed
    [late] = world.services(1)
    with pytest.raises(ExpertError):
        world.run(assign_expert, AssignExpert(data_service_id=late))
    store, c = world.wiring.platform.store, world.wiring.collections

    dry = migrate_expert_slots.run(store, c, _now, dry_run=True)
    assert dry == {"examined": 2, "changed": 1, "moved": 2}
    assert world.view("EXP-001")["assignments"] == listed  # nothing written
    assert migrate_expert_slots.run(store, c, _now) == {"examined": 2, "changed": 1, "moved": 2}
    expert = store.get(c.experts, "EXP-001")
    assert expert is not None and expert["assignments"] == []
    assert sorted(world.view("EXP-001")["assignments"]) == sorted(listed)  # the same answer
    again = migrate_expert_slots.run(store, c, _now)
    assert again == {"examined": 2, "changed": 0, "moved": 0}
    world.run(cancel_data_service, CancelDataService(data_service_id=listed[0], reason="x"))
    assert sorted(world.view("EXP-001")["assignments"]) == sorted(listed[1:])


def test_a_listed_service_is_released_from_the_list(world: World) -> None:
    listed = world.services(1)
    _listed(world, "EXP-001", listed)
    world.run(cancel_data_service, CancelDataService(data_service_id=listed[0], reason="x"))
    expert = world.wiring.platform.store.get(EXPERTS, "EXP-001")
    assert expert is not None and expert["assignments"] == []


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 12, 5, tzinfo=UTC)


# -- before the payment: the data request --------------------------------------------------
@pytest.fixture
def commands(platform: InMemoryPlatform) -> Iterator[Any]:
    w = the_wiring()
    _project_subscription(w.platform.store, w.collections.subscriptions)
    yield functions_framework.create_app("data_services_commands_http", MAIN).test_client()  # type: ignore[no-untyped-call]


def _request(speciality: str) -> dict[str, Any]:
    return {
        "dataset": {"code": "d", "criteria": {"modality": "ct"}},
        "cloud": {"code": "c", "type": "links"},
        "speciality": speciality,
    }


def test_a_data_request_no_slot_is_free_for_is_refused_before_the_payment(
    platform: InMemoryPlatform, commands: Any
) -> None:
    w = the_wiring()
    world = World(w, Interleaved(w.platform.store), Counters())
    world.run(register_expert, register_command(1, capacity=1))  # CHEST, ABDOMEN
    asked = commands.post("/subscriptions/sub-1/data-request", json=_request("abdomen"))
    assert asked.status_code == 202, asked.get_json()
    nobody = commands.post("/subscriptions/sub-1/data-request", json=_request("veterinary"))
    assert nobody.status_code == 202  # a speciality nobody covers: the saga's refusal (ADR)
    _project_subscription(w.platform.store, w.collections.subscriptions, "sub-2")
    [service_id] = world.services(1, subscription_id="sub-2")
    world.run(assign_expert, AssignExpert(data_service_id=service_id))  # its only slot
    refused = commands.post("/subscriptions/sub-1/data-request", json=_request("abdomen"))
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert (error["reason"], error["field"]) == ("no_expert_capacity", "speciality")
    world.run(cancel_data_service, CancelDataService(data_service_id=service_id, reason="x"))
    again = commands.post("/subscriptions/sub-1/data-request", json=_request("abdomen"))
    assert again.status_code == 202


def test_a_slot_reserved_for_another_subscription_is_refused_at_the_door(
    platform: InMemoryPlatform, commands: Any
) -> None:
    """Another subscription's data request holds the only slot: this one is answered 409 at
    once, not accepted to be rejected by its handler; the holder itself is not refused."""
    from functions.data_services.handlers import submit_data_request
    from functions.data_services.messages import SubmitDataRequest

    w = the_wiring()
    world = World(w, Interleaved(w.platform.store), Counters())
    world.run(register_expert, register_command(1, capacity=1))
    _project_subscription(w.platform.store, w.collections.subscriptions, "sub-2")
    held = SubmitDataRequest.model_validate({"subscription_id": "sub-2", **_request("abdomen")})
    world.run(submit_data_request, held)
    refused = commands.post("/subscriptions/sub-1/data-request", json=_request("abdomen"))
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["error"]["reason"] == "no_expert_capacity"
    own = commands.post("/subscriptions/sub-2/data-request", json=_request("abdomen"))
    assert own.status_code == 202, own.get_json()
