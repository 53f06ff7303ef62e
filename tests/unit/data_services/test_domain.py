"""The DataService state machine and its invariants, with no storage at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.data_services.domain import DataService, DataServiceError, Delivery, ManifestSummary
from functions.data_services.experts import (
    Expert,
    ExpertError,
    ExpertLoad,
    ExpertSlot,
    rank_slots,
)
from functions.data_services.messages import Status
from tests.unit.data_services.factories import create_command, register_command

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def manifest(images: int = 10) -> ManifestSummary:
    return ManifestSummary(
        manifest_id="m-1", images=images, patients=4, chunks=1, bytes=100,
        splits={"train": images, "validation": 0, "test": 0}, digest="d",
    )  # fmt: skip


def expert(index: int = 0, **changes: object) -> Expert:
    return Expert.register(register_command(index, **changes), NOW)


def seat(e: Expert, number: int = 0) -> tuple[Expert, ExpertSlot]:
    """The expert with one of its slots, free."""
    return e, ExpertSlot.free(e.id, number)


def delivery() -> Delivery:
    return Delivery(1, 10, "gs://b/m", "gs://b/s", "2026-12-02T12:00:00.000Z")


def event_names(service: DataService) -> list[str]:
    return [type(e).__name__ for e in service.pull_events()]


def created(**criteria: object) -> DataService:
    return DataService.create(create_command(anatomical_region="chest", **criteria), NOW)  # type: ignore[arg-type]


def ready(service: DataService) -> DataService:
    """An expert assigned and the dataset prepared: what a start needs."""
    service.assign(*seat(expert()), NOW)
    service.prepare(manifest(), NOW)
    return service


def test_the_whole_life_of_a_service() -> None:
    service = ready(created())
    service.start(NOW)
    service.record_delivery("m-1", delivery())
    service.finish(NOW)
    assert service.status is Status.FINISHED
    assert event_names(service) == [
        "DataServiceCreated", "ExpertAssigned", "DatasetPrepared", "DataServiceStarted",
        "DataServiceDelivered", "DataServiceFinished",
    ]  # fmt: skip


def test_the_dataset_is_prepared_before_or_after_the_expert() -> None:
    service = created()
    service.prepare(manifest(), NOW)  # no expert yet: the two run in parallel
    assert (service.status, bool(service.prepared_at)) == (Status.CREATED, True)
    service.assign(*seat(expert()), NOW)
    service.start(NOW)
    assert (service.status, service.manifest) == (Status.STARTED, manifest())


def test_the_speciality_is_the_dataset_region_by_default() -> None:
    assert created().speciality == "CHEST"


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (lambda s: None, "expert_required"),
        (lambda s: s.prepare(manifest(), NOW), "expert_required"),
        (lambda s: s.assign(*seat(expert()), NOW), "dataset_required"),
        (lambda s: (ready(s), s.start(NOW)), "already_started"),
        (lambda s: (ready(s), s.cancel("", NOW)), "service_ended"),
    ],
)
def test_no_start_without_an_expert_and_a_prepared_dataset_and_no_double_start(
    prepare: object, reason: str
) -> None:
    service = created()
    prepare(service)  # type: ignore[operator]
    with pytest.raises(DataServiceError) as refused:
        service.start(NOW)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("resolved", "reason"),
    [(manifest(0), "dataset_empty"), (manifest(10_001), "dataset_exceeds_plan")],
)
def test_no_dataset_prepared_beyond_what_the_plan_allows(
    resolved: ManifestSummary, reason: str
) -> None:
    service = created()
    service.assign(*seat(expert()), NOW)
    with pytest.raises(DataServiceError) as refused:
        service.prepare(resolved, NOW)
    assert refused.value.reason == reason
    assert service.status is Status.EXPERT_ASSIGNED and service.manifest is None


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        (lambda s: s.prepare(manifest(), NOW), "dataset_already_prepared"),
        (lambda s: (ready(s), s.start(NOW)), "already_started"),
        (lambda s: s.cancel("", NOW), "service_ended"),
    ],
)
def test_a_frozen_manifest_is_never_prepared_again(before: object, reason: str) -> None:
    service = created()
    before(service)  # type: ignore[operator]
    with pytest.raises(DataServiceError) as refused:
        service.prepare(manifest(3), NOW)
    assert refused.value.reason == reason


def test_finish_only_after_the_delivery() -> None:
    service = ready(created())
    service.start(NOW)
    with pytest.raises(DataServiceError) as refused:
        service.finish(NOW)
    assert refused.value.reason == "not_delivered"


def test_a_delivery_of_another_manifest_is_refused() -> None:
    service = ready(created())
    service.start(NOW)
    with pytest.raises(DataServiceError):
        service.record_delivery("m-other", delivery())


def test_an_expert_of_another_speciality_is_refused() -> None:
    service = created()
    with pytest.raises(DataServiceError) as refused:
        service.assign(*seat(expert(2)), NOW)  # NEURO, HEAD
    assert refused.value.reason == "expert_speciality_mismatch"
    assert service.status is Status.CREATED


def test_an_expert_over_capacity_is_refused() -> None:
    busy = expert(capacity=1)
    only = ExpertSlot.free(busy.id, 0)
    created().assign(busy, only, NOW)
    held_by = only.data_service_id
    for slot in (only, ExpertSlot.free(busy.id, 1)):  # taken, and beyond its capacity
        with pytest.raises(DataServiceError) as refused:
            created().assign(busy, slot, NOW)
        assert refused.value.reason == "expert_over_capacity"
    assert only.data_service_id == held_by


def test_a_slot_taken_again_by_its_own_service_changes_nothing() -> None:
    """At-least-once: the same service finds its own slot, and never holds two."""
    a = expert(capacity=1)
    slot = ExpertSlot.free(a.id, 0)
    a.take(slot, "ds-1", "CHEST", NOW)
    slot._dirty = False
    a.take(slot, "ds-1", "CHEST", NOW)
    assert slot.data_service_id == "ds-1" and not slot.has_changes
    slot.release("ds-other")  # another service's release: nothing
    assert slot.data_service_id == "ds-1"
    slot.release("ds-1")
    assert slot.data_service_id is None and slot.has_changes


def test_reassignment_names_the_previous_expert() -> None:
    service = created()
    first, second = expert(0), expert(1)
    service.assign(*seat(first), NOW)
    assert service.assign(*seat(second), NOW) == first.id
    assert service.expert_code == second.id
    with pytest.raises(DataServiceError):
        service.assign(*seat(second, 1), NOW)


def test_cancel_from_any_open_state_and_never_twice() -> None:
    service = created()
    service.assign(*seat(expert()), NOW)
    service.cancel("Client request", NOW)
    assert service.status is Status.CANCELLED and service.end_reason == "client_request"
    with pytest.raises(DataServiceError):
        service.cancel("", NOW)
    with pytest.raises(DataServiceError):
        service.assign(*seat(expert(1)), NOW)


def test_a_failed_delivery_ends_the_service() -> None:
    service = ready(created())
    service.start(NOW)
    service.fail("m-1", "delivery_refused", "", NOW)
    assert service.status is Status.FAILED
    assert event_names(service)[-1] == "DataServiceFailed"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"plan": "BASIC"}, "unknown_plan"),
        ({"cloud_type": "ftp"}, "unknown_cloud_type"),
        ({"max_images": 10_001}, "dataset_exceeds_plan"),
        ({"split": {"train": 50, "validation": 10, "test": 10}}, "invalid_split"),
        (
            {"ingested_from": "2026-12-01T00:00:00Z", "ingested_to": "2026-11-01T00:00:00Z"},
            "invalid_date_range",
        ),
        ({"ingested_from": "yesterday"}, "invalid_date"),
    ],
)
def test_create_refuses_what_no_service_can_be(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(DataServiceError) as refused:
        DataService.create(create_command(**changes), NOW)  # type: ignore[arg-type]
    assert refused.value.reason == reason


def _seen(code: str, load: int, capacity: int = 4, speciality: str = "CHEST") -> ExpertLoad:
    return ExpertLoad(
        code=code, specialities=(speciality,), capacity=capacity, taken=frozenset(range(load))
    )


def test_only_the_free_slots_of_able_experts_are_ranked() -> None:
    seen = [_seen("a", 2), _seen("b", 0), _seen("c", 4), _seen("d", 0, speciality="MR")]
    ranked = rank_slots(seen, "CHEST", "ds-1")
    assert sorted(ranked) == ["a.2", "a.3", "b.0", "b.1", "b.2", "b.3"]
    assert rank_slots([_seen("c", 4)], "CHEST", "ds-1") == []
    legacy = ExpertLoad(code="e", specialities=("CHEST",), capacity=3, legacy=2)
    assert rank_slots([legacy], "CHEST", "ds-1") == ["e.0"]  # the legacy list fills the last


def test_slots_are_spread_over_services_by_free_capacity_and_a_retry_ranks_the_same() -> None:
    """Concurrent assignments must not all contend for one document."""
    seen = [_seen(f"e{n}", 0, capacity=100) for n in range(5)]
    firsts = [rank_slots(seen, "CHEST", f"ds-{n}")[0] for n in range(200)]
    assert len(set(firsts)) > 150  # about 200 different slots of 500
    experts = [slot.split(".")[0] for slot in firsts]
    assert min(experts.count(f"e{n}") for n in range(5)) > 20  # about 40 each
    assert rank_slots(seen, "CHEST", "ds-7") == rank_slots(seen, "CHEST", "ds-7")
    # An expert with more free slots gets more of the services: in proportion.
    uneven = [_seen("busy", 90, capacity=100), _seen("idle", 0, capacity=100)]
    chosen = [rank_slots(uneven, "CHEST", f"ds-{n}")[0].split(".")[0] for n in range(300)]
    assert chosen.count("idle") > 5 * chosen.count("busy")


def test_capacity_cannot_drop_below_the_load() -> None:
    a = expert(0, capacity=4)
    with pytest.raises(ExpertError) as below:
        a.update(register_command(0, capacity=1), taken=[0, 1])
    assert below.value.reason == "capacity_below_load"
    with pytest.raises(ExpertError) as beyond:  # a load of 1, but in a slot beyond 2
        a.update(register_command(0, capacity=2), taken=[3])
    assert beyond.value.reason == "capacity_below_load"
    a.update(register_command(0, capacity=2), taken=[1])
    assert a.capacity == 2
