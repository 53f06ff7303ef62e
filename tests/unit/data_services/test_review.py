"""The expert's work: retiring experts, excluding images from a prepared dataset (a new
manifest version, still split by patient), approving it, and the start a required review
holds until then. Every message goes through its function, as Pub/Sub would deliver it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from functions.bootstrap import InMemoryPlatform
from functions.data_services import queries as read
from functions.data_services import review
from functions.data_services.datasets import ManifestEntry
from functions.data_services.domain import DataServiceError
from functions.data_services.experts import Expert, ExpertLoad, ExpertSlot, rank_slots
from functions.data_services.messages import (
    NAMES,
    ApproveDataset,
    AssignExpert,
    DataServicesCommandRejected,
    ExcludeImages,
    RetireExpert,
    Status,
    SubmitDataRequest,
)
from functions.data_services.preview import MAX_SIDE, PNG_SIGNATURE, render_png
from shared.ports.envelope import Envelope
from tests.support.delivery import deliver
from tests.unit.data_services.dicoms import dicom_bytes
from tests.unit.data_services.factories import (
    create_command,
    register_command,
    subscription_created,
)
from tests.unit.data_services.flow import Pump, catalogue, events, prepare, send, the_wiring

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _service(platform: InMemoryPlatform) -> dict[str, Any]:
    [(_, document)] = platform.store.query(the_wiring().collections.services, [], limit=5).items
    return document


def _entries(platform: InMemoryPlatform, manifest: dict[str, Any]) -> list[ManifestEntry]:
    w = the_wiring()
    return read.manifest_entries(
        platform.store, w.collections, manifest["manifest_id"], manifest["chunks"]
    )


def _count(platform: InMemoryPlatform, fact: str) -> int:
    """Events of a fact, once each (a redelivery publishes its outbox again, same ids)."""
    published = platform.publisher.messages(NAMES.events_topic)
    return len({e.id for e in published if e.type.split(".")[-2] == fact})


def _rejections(platform: InMemoryPlatform) -> list[str]:
    return [
        e.payload.reason
        for e in platform.publisher.messages(NAMES.events_topic)
        if isinstance(e.payload, DataServicesCommandRejected)
    ]


def _ready(platform: InMemoryPlatform, *, review_required: bool = False, images: int = 30) -> str:
    """A service assigned to EXP-001 (chest), its dataset prepared."""
    catalogue(platform, images)
    send(subscription_created())
    for index in range(3):
        send(register_command(index))
    command = create_command(anatomical_region="chest", expert_code="EXP-001")
    send(command.model_copy(update={"review_required": review_required}))
    prepare(command.data_service_id)
    return command.data_service_id


def _exclude(service_id: str, *ids: str, reason: str = "artifact", **more: Any) -> Envelope:
    return send(
        ExcludeImages(
            data_service_id=service_id,
            expert_code=more.pop("expert_code", "EXP-001"),
            image_ids=list(ids),
            reason=reason,  # type: ignore[arg-type]
            **more,
        )
    )


# -- retiring ----------------------------------------------------------------------------------
def test_a_retired_expert_is_never_ranked_nor_taken() -> None:
    seen = [
        ExpertLoad("A", ("CHEST",), 5, retired=True),
        ExpertLoad("B", ("CHEST",), 5, taken=frozenset(range(4))),
    ]
    assert rank_slots(seen, "CHEST", "ds-1") == ["B.4"]
    expert = Expert.register(register_command(0), NOW)
    expert.retire(NOW, taken=0)
    assert not expert.covers("CHEST")
    with pytest.raises(Exception, match="retired") as refused:
        expert.take(ExpertSlot.free(expert.id, 0), "ds-1", "CHEST", NOW)
    assert getattr(refused.value, "reason", "") == "expert_retired"


def test_a_retired_expert_keeps_its_services_and_is_never_assigned_again(
    platform: InMemoryPlatform,
) -> None:
    service_id = _ready(platform)
    envelope = send(RetireExpert(expert_code="EXP-001"))
    deliver(NAMES.commands_topic, envelope)  # a duplicate: nothing more
    assert _count(platform, "retired") == 1
    expert = read.get_expert(platform.store, the_wiring().collections, "EXP-001")
    assert expert is not None and expert["retired_at"] and expert["assignments"] == [service_id]
    # Assigned by load: EXP-002 (the other chest expert), never the retired one.
    other = create_command(anatomical_region="chest", subscription_id="sub-1")
    send(other)
    send(AssignExpert(data_service_id=other.data_service_id))
    stored = platform.store.get(the_wiring().collections.services, other.data_service_id)
    assert stored is not None and stored["expert_code"] == "EXP-002"
    # By name: refused.
    third = create_command(anatomical_region="chest")
    send(third)
    send(AssignExpert(data_service_id=third.data_service_id, expert_code="EXP-001"))
    assert _rejections(platform)[-1] == "expert_retired"
    # Registered again: reinstated.
    send(register_command(0))
    expert = platform.store.get(the_wiring().collections.experts, "EXP-001")
    assert expert is not None and expert["retired_at"] is None


# -- exclusions --------------------------------------------------------------------------------
def test_kept_entries_refuse_unknown_ids_and_an_empty_dataset() -> None:
    entry = ManifestEntry(
        "img-1", "pt-1", "st-1", "train", "gs://b/1", "0" * 64, 1, "CT", None, None
    )
    with pytest.raises(DataServiceError) as unknown:
        review.kept_entries([entry], ["img-404"])
    assert unknown.value.reason == "unknown_image"
    with pytest.raises(DataServiceError) as empty:
        review.kept_entries([entry], ["img-1"])
    assert empty.value.reason == "dataset_empty"


def test_an_exclusion_is_a_new_version_that_keeps_every_patient_in_its_split(
    platform: InMemoryPlatform,
) -> None:
    service_id = _ready(platform)
    before = _service(platform)["manifest"]
    old_entries = _entries(platform, before)
    excluded = [e.image_id for e in old_entries[:4]]
    envelope = _exclude(service_id, *excluded, note="a note never logged")
    deliver(NAMES.commands_topic, envelope)  # a duplicate: one version, one event
    assert _count(platform, "images_excluded") == 1
    document = _service(platform)
    after = document["manifest"]
    assert after["manifest_id"] != before["manifest_id"]
    assert document["previous_manifests"] == [before["manifest_id"]]
    assert after["images"] == before["images"] - 4
    new_entries = _entries(platform, after)
    assert {e.image_id for e in new_entries} == {e.image_id for e in old_entries} - set(excluded)
    split_before = {e.patient_token: e.split for e in old_entries}
    assert all(split_before[e.patient_token] == e.split for e in new_entries)
    assert review.patients_in_one_split(new_entries)
    counts = {s: sum(e.split == s for e in new_entries) for s in after["splits"]}
    assert counts == after["splits"]
    # The replaced version stays readable.
    w = the_wiring()
    old = read.manifest_version_page(platform.store, w.collections, service_id,
                                     before["manifest_id"], 0)  # fmt: skip
    assert old is not None and len(old["entries"]) == before["images"]
    # The event: counts and manifest ids, never the image ids nor the note.
    event: Any = next(
        e for e in platform.publisher.messages(NAMES.events_topic) if "images_excluded" in e.type
    )
    text = event.payload.model_dump_json()
    assert "img-" not in text and "never logged" not in text
    assert event.payload.excluded == 4 and event.payload.reason == "artifact"


@pytest.mark.parametrize(
    ("ids", "reason"), [(("img-404",), "unknown_image"), ((), "dataset_empty")]
)
def test_unknown_ids_and_excluding_everything_are_refused(
    platform: InMemoryPlatform, ids: tuple[str, ...], reason: str
) -> None:
    service_id = _ready(platform, images=6)
    every = tuple(e.image_id for e in _entries(platform, _service(platform)["manifest"]))
    before = _service(platform)["manifest"]["manifest_id"]
    _exclude(service_id, *(ids or every))
    assert _rejections(platform)[-1] == reason
    assert _service(platform)["manifest"]["manifest_id"] == before


def test_exclusions_are_refused_after_the_start_and_for_another_expert(
    platform: InMemoryPlatform,
) -> None:
    service_id = _ready(platform)
    first = _entries(platform, _service(platform)["manifest"])[0].image_id
    _exclude(service_id, first, expert_code="EXP-002")
    assert _rejections(platform)[-1] == "not_assigned_expert"
    send(_start_command(service_id))
    _exclude(service_id, first)
    assert _rejections(platform)[-1] == "already_started"


# -- approval and the held start ---------------------------------------------------------------
def _start_command(service_id: str) -> Any:
    from functions.data_services.messages import StartDataService

    return StartDataService(data_service_id=service_id)


def test_without_a_required_review_nothing_changes(platform: InMemoryPlatform) -> None:
    service_id = _ready(platform)
    send(_start_command(service_id))
    assert "started" in events(platform)
    assert _service(platform)["status"] == Status.STARTED.value


def test_a_required_review_holds_the_start_until_the_approval(platform: InMemoryPlatform) -> None:
    service_id = _ready(platform, review_required=True)
    pump = Pump(platform, delivered=len(platform.publisher.messages(NAMES.commands_topic)))
    send(_start_command(service_id))
    send(_start_command(service_id))  # the saga's resend: still held
    assert "started" not in events(platform)
    held = _service(platform)
    assert held["status"] == Status.EXPERT_ASSIGNED.value and held["start_requested_at"]
    assert pump.run() == 0  # no chunk delivered
    first = _entries(platform, held["manifest"])[0].image_id
    _exclude(service_id, first, reason="duplicate")
    approval = send(ApproveDataset(data_service_id=service_id, expert_code="EXP-001"))
    deliver(NAMES.commands_topic, approval)  # a duplicate: one approval, one start
    assert _count(platform, "dataset_approved") == 1
    assert _count(platform, "started") == 1
    started = platform.publisher.messages(NAMES.events_topic)
    start_event: Any = next(e.payload for e in started if e.type.endswith(".started.v1"))
    assert start_event.manifest_id == _service(platform)["manifest"]["manifest_id"]
    assert start_event.images == held["manifest"]["images"] - 1
    pump.run()
    delivered = _service(platform)
    assert delivered["status"] == Status.DELIVERED.value
    assert delivered["delivery"]["objects"] == held["manifest"]["images"] - 1
    # After the approval the dataset is frozen for review.
    _exclude(service_id, _entries(platform, delivered["manifest"])[0].image_id)
    assert _rejections(platform)[-1] == "already_started"


def test_an_approval_before_the_start_lets_it_go_at_once(platform: InMemoryPlatform) -> None:
    service_id = _ready(platform, review_required=True)
    send(ApproveDataset(data_service_id=service_id, expert_code="EXP-001"))
    first = _entries(platform, _service(platform)["manifest"])[0].image_id
    _exclude(service_id, first)
    assert _rejections(platform)[-1] == "already_approved"
    send(_start_command(service_id))
    assert _count(platform, "started") == 1


def test_a_data_request_carries_the_review_onto_the_service(platform: InMemoryPlatform) -> None:
    catalogue(platform, 6)
    send(subscription_created())
    for index in range(3):
        send(register_command(index))
    request = SubmitDataRequest(
        subscription_id="sub-1",
        dataset=create_command().dataset,
        cloud=create_command().cloud,
        speciality="chest",
        review_required=True,
    )
    send(request)
    command = create_command(anatomical_region="chest").model_copy(
        update={"from_client_request": True}
    )
    send(command)
    assert _service(platform)["review_required"] is True


# -- the preview -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [{}, {"frames": 3}, {"photometric": "MONOCHROME1", "window": None}, {"colour": True}],
)
def test_the_preview_is_a_png_of_at_most_512_pixels(changes: dict[str, Any]) -> None:
    png = render_png(dicom_bytes(**changes))
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    assert max(image.size) <= MAX_SIDE
    assert image.mode == ("RGB" if changes.get("colour") else "L")


def test_monochrome1_is_inverted() -> None:
    plain = Image.open(io.BytesIO(render_png(dicom_bytes(8, 8, window=None))))
    inverted = Image.open(
        io.BytesIO(render_png(dicom_bytes(8, 8, photometric="MONOCHROME1", window=None)))
    )
    assert plain.getpixel((0, 0)) == 255 - inverted.getpixel((0, 0))  # type: ignore[operator]
