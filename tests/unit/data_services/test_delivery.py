"""Start → frozen manifest → chunks fanned out → copies in the delivery bucket → delivered →
finished and revoked; with a crash in the middle, a refusing target and links."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services import queries
from functions.data_services.messages import (
    CancelDataService,
    FinishDataService,
    StartDataService,
)
from functions.data_services.ports import DeliveryRefused, Placed
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver
from tests.unit.data_services.factories import DELIVERY, register_command
from tests.unit.data_services.flow import (
    assigned_service,
    catalogue,
    events,
    last_event,
    prepare,
    send,
    start,
    the_wiring,
)

CHUNK = 4


def wrap_targets(wrapper: Any) -> Any:
    """Every target the delivery builds from now on, wrapped; the real factory back."""
    delivery = the_wiring().delivery
    real = delivery.targets
    delivery.targets = lambda spec: wrapper(real(spec))
    return real


@pytest.fixture(autouse=True)
def small_chunks(platform: InMemoryPlatform) -> None:
    the_wiring().delivery.chunk_size = CHUNK


def stored(platform: InMemoryPlatform, service_id: str) -> dict[str, Any]:
    document = platform.store.get("data_services", service_id)
    assert document is not None
    return document


def images_in_bucket(platform: InMemoryPlatform, service_id: str) -> list[str]:
    return [n for n in platform.blobs.list_names(DELIVERY, f"{service_id}/") if n.endswith(".dcm")]


def test_a_dataset_is_delivered_in_chunks_with_its_manifest_and_checksums(
    platform: InMemoryPlatform,
) -> None:
    catalogue(platform, 10)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    assert pump.run() == 3  # 10 images in chunks of 4
    assert events(platform)[-4:] == ["expert_assigned", "dataset_prepared", "started", "delivered"]
    document = stored(platform, service_id)
    assert document["status"] == "DELIVERED"
    assert document["manifest"]["images"] == 10 and document["manifest"]["chunks"] == 3
    names = images_in_bucket(platform, service_id)
    assert len(names) == 10
    lines = (
        platform.blobs.read_bytes(DELIVERY, f"{service_id}/manifest.jsonl").decode().splitlines()
    )
    manifest = [json.loads(line) for line in lines]
    assert sorted(f"{service_id}/{m['split']}/{m['image_id']}.dcm" for m in manifest) == names
    sums = platform.blobs.read_bytes(DELIVERY, f"{service_id}/SHA256SUMS").decode().splitlines()
    assert sorted(sums) == sorted(
        f"{m['sha256']}  {m['split']}/{m['image_id']}.dcm" for m in manifest
    )
    delivered = last_event(platform)
    assert delivered.objects == 10 and delivered.manifest_uri.endswith("manifest.jsonl")


def test_a_crash_in_the_middle_of_a_chunk_resumes_without_copying_twice(
    platform: InMemoryPlatform,
) -> None:
    catalogue(platform, 10)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    placed: list[str] = []
    lock = threading.Lock()  # the chunk copies on several threads

    class CrashAfterTwo:
        def __init__(self, target: Any) -> None:
            self.target = target

        def place(self, *args: str) -> Placed:
            with lock:
                if len(placed) == 2:
                    raise RuntimeError("the instance died")
                result: Placed = self.target.place(*args)
                placed.append(f"{service_id}/{args[2]}")
                return result

        def __getattr__(self, name: str) -> Any:
            return getattr(self.target, name)

    real = wrap_targets(CrashAfterTwo)
    with pytest.raises(RuntimeError):
        pump.run(limit=1)
    generations = {n: platform.blobs.stat(DELIVERY, n).generation for n in placed}  # type: ignore[union-attr]
    the_wiring().delivery.targets = real
    pump.delivered -= 1  # Pub/Sub redelivers the unacknowledged chunk
    pump.run()
    assert stored(platform, service_id)["status"] == "DELIVERED"
    assert len(images_in_bucket(platform, service_id)) == 10
    for name, generation in generations.items():  # the two copies made before the crash
        assert platform.blobs.stat(DELIVERY, name).generation == generation  # type: ignore[union-attr]
    progress = the_wiring().platform.store.query("data_services_deliveries", limit=10).items
    assert sum(d["copied"] for _, d in progress) == 10 - 2


def test_every_chunk_delivered_twice_changes_nothing(platform: InMemoryPlatform) -> None:
    catalogue(platform, 9)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    chunks = pump.pending()
    pump.run()
    before = {n: platform.blobs.stat(DELIVERY, n) for n in platform.blobs.list_names(DELIVERY)}
    for envelope in reversed(chunks):
        send(envelope.payload)  # new message ids: the chunk's own record answers
        pump.delivered = len(pump.pending()) + pump.delivered
    after = {n: platform.blobs.stat(DELIVERY, n) for n in platform.blobs.list_names(DELIVERY)}
    assert before == after
    assert events(platform).count("delivered") == 1


def test_a_redelivered_start_fans_out_the_same_chunks(platform: InMemoryPlatform) -> None:
    catalogue(platform, 9)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    first = [e.id for e in pump.pending()]
    [started] = [
        e
        for e in platform.publisher.messages("data-services-events")
        if e.type.endswith("started.v1")
    ]
    assert stored(platform, service_id)["manifest"]["manifest_id"] == started.payload.manifest_id  # type: ignore[attr-defined]
    pump.run()
    send(StartDataService(data_service_id=service_id))
    assert last_event(platform).reason == "already_started"
    assert first and pump.pending() == []


def test_links_copy_nothing_and_are_signed_on_request_only(platform: InMemoryPlatform) -> None:
    catalogue(platform, 5)
    service_id = assigned_service(platform, cloud_type="links")
    start(platform, service_id).run()
    assert images_in_bucket(platform, service_id) == []
    # No link is written at delivery: only the manifest files, under the service's root.
    assert platform.blobs.list_names(DELIVERY, f"{service_id}/") == [
        f"{service_id}/SHA256SUMS", f"{service_id}/manifest.jsonl"
    ]  # fmt: skip
    delivered = last_event(platform)
    assert delivered.delivery_mode == "links" and delivered.links_expire_at is None
    assert delivered.target_type == "links"
    assert delivered.location.endswith(f"/v1/data-services/{service_id}/files")
    assert "gs://" not in delivered.manifest_uri + delivered.checksums_uri
    send(FinishDataService(data_service_id=service_id))
    assert last_event(platform).revocation == "links_stop"


def test_finish_revokes_every_copy(platform: InMemoryPlatform) -> None:
    catalogue(platform, 10)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    pump.run()
    send(FinishDataService(data_service_id=service_id))
    assert pump.run() == 3  # one RevokeChunk per chunk
    assert platform.blobs.list_names(DELIVERY, f"{service_id}/") == []
    finished = [
        e
        for e in platform.publisher.messages("data-services-events")
        if e.type.endswith("finished.v1")
    ]
    assert finished[0].payload.objects_delivered == 10  # type: ignore[attr-defined]
    expert = queries.get_expert(
        platform.store, the_wiring().collections, stored(platform, service_id)["expert_code"]
    )
    assert expert is not None and service_id not in expert["assignments"]


def test_a_cancel_during_delivery_leaves_no_copy(platform: InMemoryPlatform) -> None:
    catalogue(platform, 12)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    pump.run(limit=1)
    send(CancelDataService(data_service_id=service_id, reason="budget"))
    pump.run()
    assert stored(platform, service_id)["status"] == "CANCELLED"
    assert platform.blobs.list_names(DELIVERY, f"{service_id}/") == []
    assert "delivered" not in events(platform)


def test_a_target_that_refuses_writes_fails_the_service_once(platform: InMemoryPlatform) -> None:
    catalogue(platform, 8)
    service_id = assigned_service(platform)
    pump = start(platform, service_id)

    class Refusing:
        def __init__(self, target: Any) -> None:
            self.spec = target.spec

        def place(self, *args: str) -> Placed:
            raise DeliveryRefused("delivery_refused", "the bucket refused the write")

        def revoke(self) -> None:
            pass

    real = wrap_targets(Refusing)
    pump.run(limit=2)
    the_wiring().delivery.targets = real
    pump.run()
    assert stored(platform, service_id)["status"] == "FAILED"
    assert events(platform).count("failed") == 1
    failed = [
        e
        for e in platform.publisher.messages("data-services-events")
        if e.type.endswith("failed.v1")
    ]
    assert failed[0].payload.reason == "delivery_refused"  # type: ignore[attr-defined]


def test_a_missing_image_fails_the_delivery(platform: InMemoryPlatform) -> None:
    catalogue(platform, 4)
    platform.blobs.delete("saludtech-local-anonymized", "img-000002.dcm")
    service_id = assigned_service(platform)
    start(platform, service_id).run()
    assert stored(platform, service_id)["status"] == "FAILED"
    assert stored(platform, service_id)["end_reason"] == "source_missing"


@pytest.mark.parametrize(
    ("criteria", "reason"),
    [({"modality": "MR"}, "dataset_empty"), ({}, "dataset_exceeds_plan")],
)
def test_an_empty_or_too_large_dataset_is_refused_at_the_prepare_and_nothing_starts(
    platform: InMemoryPlatform,
    monkeypatch: pytest.MonkeyPatch,
    criteria: dict[str, Any],
    reason: str,
) -> None:
    from functions.data_services import plans

    monkeypatch.setitem(
        plans.ALLOWANCES, "PRO", plans.PlanAllowance("PRO", max_images=5, link_hours=1)
    )
    catalogue(platform, 6)
    service_id = assigned_service(platform, **criteria)
    prepare(service_id)
    rejection = last_event(platform)
    assert rejection.reason == reason and rejection.command_type.endswith("prepare_dataset.v1")
    assert stored(platform, service_id)["manifest"] is None
    pump = start(platform, service_id, prepared=True)  # an expert, but no dataset
    assert last_event(platform).reason == "dataset_required"
    assert pump.pending() == [] and stored(platform, service_id)["status"] == "EXPERT_ASSIGNED"


def test_a_redelivered_prepare_freezes_one_manifest(platform: InMemoryPlatform) -> None:
    catalogue(platform, 6)
    service_id = assigned_service(platform)
    first = prepare(service_id)
    frozen = stored(platform, service_id)["manifest"]
    deliver("data-services-commands", first)  # the same message again: the inbox answers
    catalogue(platform, 9)
    prepare(service_id)  # another prepare: refused, the manifest stays frozen
    assert last_event(platform).reason == "dataset_already_prepared"
    assert stored(platform, service_id)["manifest"] == frozen and frozen["images"] == 6
    prepared = {
        e.id
        for e in platform.publisher.messages("data-services-events")
        if e.type.endswith("dataset_prepared.v1")
    }
    assert len(prepared) == 1  # the redelivery published the very same event again


def test_the_dataset_is_prepared_while_the_expert_is_assigned(platform: InMemoryPlatform) -> None:
    """The saga's parallel branches: prepare before the expert; the start needs both."""
    from functions.data_services.messages import AssignExpert
    from tests.unit.data_services.factories import create_command, subscription_created

    catalogue(platform, 5)
    send(subscription_created())
    send(register_command(0))
    command = create_command(anatomical_region="chest")
    send(command)
    service_id = command.data_service_id
    prepare(service_id)
    assert stored(platform, service_id)["status"] == "CREATED"
    send(StartDataService(data_service_id=service_id))
    assert last_event(platform).reason == "expert_required"
    send(AssignExpert(data_service_id=service_id))
    start(platform, service_id, prepared=True).run()
    assert stored(platform, service_id)["status"] == "DELIVERED"
    assert events(platform)[-5:] == [
        "dataset_prepared", "rejected", "expert_assigned", "started", "delivered"
    ]  # fmt: skip


def test_the_same_service_delivers_the_same_images_after_the_catalogue_grows(
    platform: InMemoryPlatform,
) -> None:
    catalogue(platform, 6)
    service_id = assigned_service(platform)
    start(platform, service_id).run()
    frozen = stored(platform, service_id)["manifest"]
    catalogue(platform, 12)  # more matching images arrive after the start
    assert stored(platform, service_id)["manifest"] == frozen
    assert len(images_in_bucket(platform, service_id)) == 6


def test_two_deliveries_of_one_chunk_racing_copy_each_object_once(
    platform: InMemoryPlatform,
) -> None:
    """Pub/Sub may deliver a chunk again while the first delivery still copies it (an ack
    deadline passed, a duplicate): the chunk is claimed in a transaction, so the second one
    copies nothing, is retried, and then finds the chunk recorded; the progress is the
    first one's."""
    from functions.data_services.delivery import ChunkHeld

    catalogue(platform, CHUNK)  # one chunk
    service_id = assigned_service(platform)
    pump = start(platform, service_id)
    [chunk] = pump.pending()
    delivery = the_wiring().delivery
    copying, go_on, lock = threading.Event(), threading.Event(), threading.Lock()
    copied: list[bool] = []

    class Slow:
        def __init__(self, target: Any) -> None:
            self.target = target

        def place(self, *args: str) -> Placed:
            copying.set()
            go_on.wait(5)
            placed: Placed = self.target.place(*args)
            with lock:
                copied.append(placed.copied)
            return placed

        def __getattr__(self, name: str) -> Any:
            return getattr(self.target, name)

    wrap_targets(Slow)
    first: list[str] = []
    holder = threading.Thread(target=lambda: first.append(delivery.deliver_chunk(chunk)))
    holder.start()
    assert copying.wait(5)
    racing = Envelope(payload=chunk.payload, source="/tests")  # another message, same chunk
    with pytest.raises(ChunkHeld):
        delivery.deliver_chunk(racing)
    go_on.set()
    holder.join(5)
    assert first == ["delivered"]
    assert delivery.deliver_chunk(racing) == "duplicate"  # its retry
    assert copied == [True] * CHUNK  # every object copied once, by the holder
    [(_, record)] = platform.store.query("data_services_deliveries", limit=10).items
    assert (record["objects"], record["copied"]) == (CHUNK, CHUNK)
    assert stored(platform, service_id)["status"] == "DELIVERED"
    assert events(platform).count("delivered") == 1


def test_the_lease_of_a_delivery_that_died_ends_and_the_chunk_is_delivered(
    platform: InMemoryPlatform,
) -> None:
    from datetime import timedelta

    from functions.data_services.delivery import CLAIM_LEASE, ChunkHeld
    from shared.domain.clock import rfc3339, utc_now

    catalogue(platform, CHUNK)
    service_id = assigned_service(platform)
    [chunk] = start(platform, service_id).pending()
    payload = chunk.payload
    key = f"{payload.manifest_id}-00000"  # type: ignore[attr-defined]
    died = {"token": "t-dead", "lease_until": rfc3339(utc_now() + CLAIM_LEASE)}
    platform.store.run_in_transaction(lambda tx: tx.put("data_services_delivery_claims", key, died))
    delivery = the_wiring().delivery
    with pytest.raises(ChunkHeld):  # the holder may still be copying: nothing is copied
        delivery.deliver_chunk(chunk)
    assert images_in_bucket(platform, service_id) == []
    delivery.clock = lambda: utc_now() + CLAIM_LEASE + timedelta(seconds=1)
    assert delivery.deliver_chunk(chunk) == "delivered"  # the ack deadline passed: taken over
    assert len(images_in_bucket(platform, service_id)) == CHUNK
