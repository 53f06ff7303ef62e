"""The expert registry and an expert's review through /v1: an operator registers and retires
experts (through the data services context's command door); an expert reads only its own
assignments, with the dataset page by page and a PNG preview of each image, excludes
images and approves. Every command the door publishes is then delivered to its function,
as Pub/Sub would."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from functions.data_services.messages import (
    NAMES,
    ApproveDataset,
    ExcludeImages,
    PrepareDataset,
    RegisterExpert,
    RetireExpert,
    StartDataService,
)
from functions.data_services.preview import PNG_SIGNATURE
from functions.identity.messages import Role
from tests.support.delivery import deliver
from tests.unit.api.conftest import Api
from tests.unit.data_services.dicoms import dicom_bytes
from tests.unit.data_services.factories import (
    ANONYMIZED,
    create_command,
    image_event,
    subscription_created,
)
from tests.unit.data_services.flow import send

EXPERT: dict[str, Any] = {
    "expert_code": "EXP-1",
    "first_names": "Ana",
    "last_names": "Ruiz",
    "username": "aruiz",
    "national_id": "CC-77777",
    "email": "ana.ruiz@example.org",
    "specialities": ["chest"],
    "capacity": 3,
}


class Commands:
    """Delivers what the data services' command door published, once each."""

    def __init__(self, api: Api) -> None:
        self.api, self.done = api, 0

    def run(self) -> list[Any]:
        published = self.api.platform.publisher.messages(NAMES.commands_topic)
        ran = [e.payload for e in published[self.done :]]
        for envelope in published[self.done :]:
            self.done += 1
            deliver(NAMES.commands_topic, envelope)
        ran += self.run() if len(published) < len(
            self.api.platform.publisher.messages(NAMES.commands_topic)
        ) else []  # fmt: skip
        return ran


def _register(api: Api, token: str, commands: Commands, **changes: Any) -> None:
    answer = api.call("POST", "/v1/experts", {**EXPERT, **changes}, token=token)
    assert answer.status == 202, answer.body
    commands.run()


def _service(api: Api, commands: Commands, *, images: int = 9, review: bool = False) -> str:
    """A service assigned to EXP-1, its dataset prepared over `images` real DICOM objects."""
    send(subscription_created())
    data = dicom_bytes(64, 48)
    for index in range(images):
        event = image_event(index).model_copy(update={"size": len(data)})
        api.platform.blobs.write(ANONYMIZED, f"{event.image_id}.dcm", data, create_only=False)
        send(event)
    command = create_command(anatomical_region="chest", expert_code="EXP-1")
    send(command.model_copy(update={"review_required": review}))
    send(PrepareDataset(data_service_id=command.data_service_id))
    commands.done = len(api.platform.publisher.messages(NAMES.commands_topic))
    return command.data_service_id


@pytest.fixture
def commands(api: Api) -> Commands:
    api.add_user("expert-b", Role.EXPERT, "EXP-2")
    return Commands(api)


# -- the registry ------------------------------------------------------------------------------
def test_an_operator_registers_and_retires_experts_and_reads_no_personal_data(
    api: Api, commands: Commands
) -> None:
    token = api.login("operator")
    answer = api.call("POST", "/v1/experts", EXPERT, token=token)
    assert answer.status == 202, answer.body
    assert answer.body["expert_code"] == "EXP-1"
    assert answer.body["command_type"] == RegisterExpert.TYPE
    assert answer.body["links"]["expert"] == "/v1/experts/EXP-1"
    commands.run()
    status = api.call("GET", answer.headers["Location"], token=token)
    assert (status.status, status.body["status"]) == (200, "applied")
    listed = api.call("GET", "/v1/experts", token=token)
    assert listed.status == 200
    [expert] = listed.body["items"]
    assert expert["status"] == "active" and expert["specialities"] == ["CHEST"]
    for personal in ("Ana", "Ruiz", "aruiz", "CC-77777", "ana.ruiz"):
        assert personal not in listed.raw.decode()
    retired = api.call("POST", "/v1/experts/EXP-1/retire", {}, token=token)
    assert retired.status == 202, retired.body
    assert [type(c) for c in commands.run()] == [RetireExpert]
    again = api.call("POST", "/v1/experts/EXP-1/retire", {}, token=token)
    assert again.status == 202  # idempotent: the registry changes nothing
    commands.run()
    one = api.call("GET", "/v1/experts/EXP-1", token=token)
    assert (one.status, one.body["status"]) == (200, "retired")
    assert one.body["retired_at"]
    unknown = api.call("POST", "/v1/experts/EXP-404/retire", {}, token=token)
    assert (unknown.status, unknown.body["error"]["reason"]) == (404, "expert_not_found")
    missing = api.call("GET", "/v1/experts/EXP-404", token=token)
    assert missing.status == 404


@pytest.mark.parametrize("user", ["client-a", "expert-a", "center-a"])
def test_only_operators_manage_the_registry(api: Api, user: str) -> None:
    token = api.login(user)
    assert api.call("POST", "/v1/experts", EXPERT, token=token).status == 403
    assert api.call("GET", "/v1/experts", token=token).status == 403
    assert api.call("POST", "/v1/experts/EXP-1/retire", {}, token=token).status == 403


# -- the review --------------------------------------------------------------------------------
def test_an_expert_reviews_only_its_own_assignment(api: Api, commands: Commands) -> None:
    _register(api, api.login("operator"), commands)
    service_id = _service(api, commands)
    token = api.login("expert-a")
    listed = api.call("GET", "/v1/assignments", token=token)
    assert [s["data_service_id"] for s in listed.body["items"]] == [service_id]
    answer = api.call("GET", f"/v1/assignments/{service_id}", token=token)
    assert answer.status == 200, answer.body
    review = answer.body["review"]
    assert len(review["entries"]) == 9 and review["next_chunk"] is None
    entry = review["entries"][0]
    assert set(entry) == {
        "image_id", "split", "study_id", "patient_token", "modality", "anatomical_region",
        "pathology", "size", "preview",
    }  # fmt: skip
    assert "gs://" not in answer.raw.decode()
    png = api.call("GET", entry["preview"], token=token)
    assert png.status == 200, png.body
    assert png.headers["Content-Type"] == "image/png" and png.raw.startswith(PNG_SIGNATURE)
    assert max(Image.open(io.BytesIO(png.raw)).size) <= 512
    # Another expert's, a client, an unknown image: as if nothing were there.
    other = api.login("expert-b")
    assert api.call("GET", f"/v1/assignments/{service_id}", token=other).status == 404
    assert api.call("GET", entry["preview"], token=other).status == 404
    unknown = api.call("GET", f"/v1/assignments/{service_id}/images/img-404/preview", token=token)
    assert unknown.status == 404
    assert (
        api.call("GET", f"/v1/assignments/{service_id}", token=api.login("client-a")).status == 403
    )
    assert api.call("GET", "/v1/assignments/ds-404", token=token).status == 404


def test_exclusions_then_the_approval_release_the_held_delivery(
    api: Api, commands: Commands
) -> None:
    _register(api, api.login("operator"), commands)
    service_id = _service(api, commands, review=True)
    token = api.login("expert-a")
    entries = api.call("GET", f"/v1/assignments/{service_id}", token=token).body["review"]
    first_version = entries["manifest_id"]
    path = f"/v1/assignments/{service_id}/exclusions"
    unknown = api.call("POST", path, {"image_ids": ["img-404"], "reason": "artifact"}, token=token)
    assert (unknown.status, unknown.body["error"]["reason"]) == (422, "unknown_image")
    bad = api.call("POST", path, {"image_ids": ["img-000000"], "reason": "ugly"}, token=token)
    assert bad.status in (400, 422)
    every = [e["image_id"] for e in entries["entries"]]
    empty = api.call("POST", path, {"image_ids": every, "reason": "other"}, token=token)
    assert (empty.status, empty.body["error"]["reason"]) == (422, "dataset_empty")
    other = api.call("POST", path, {"image_ids": every[:1], "reason": "artifact"},
                     token=api.login("expert-b"))  # fmt: skip
    assert other.status == 404
    # The saga's start, before the review ends: held.
    send(StartDataService(data_service_id=service_id))
    body = {"image_ids": every[:1], "reason": "poor_quality", "note": "blurred"}
    excluded = api.call("POST", path, body, token=token)
    assert excluded.status == 202, excluded.body
    assert excluded.body["data_service_id"] == service_id
    assert [type(c) for c in commands.run()] == [ExcludeImages]
    revised = api.call("GET", f"/v1/assignments/{service_id}", token=token).body
    assert revised["status"] == "EXPERT_ASSIGNED" and revised["start_requested_at"]
    assert revised["manifest"]["images"] == 8
    assert revised["previous_manifests"] == [first_version]
    old = api.call("GET", f"/v1/assignments/{service_id}", token=token,
                   query={"manifest_id": first_version})  # fmt: skip
    assert len(old.body["review"]["entries"]) == 9
    approved = api.call("POST", f"/v1/assignments/{service_id}/approve", {}, token=token)
    assert approved.status == 202, approved.body
    ran = commands.run()
    assert ApproveDataset in [type(c) for c in ran]
    delivered = api.call("GET", f"/v1/assignments/{service_id}", token=token).body
    assert delivered["status"] == "DELIVERED"
    assert delivered["delivery"]["objects"] == 8
    late = api.call("POST", path, {"image_ids": every[1:2], "reason": "artifact"}, token=token)
    assert (late.status, late.body["error"]["reason"]) == (409, "already_started")


def test_a_data_request_asks_for_the_review(api: Api) -> None:
    from tests.unit.api.test_data_requests import REQUEST, _published, _subscribe

    token = api.login("client-a")
    subscription_id = _subscribe(api, token)
    body = {**REQUEST, "review_required": True}
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", body, token=token
    )
    assert answer.status == 202, answer.body
    [sent] = _published(api)
    assert sent.review_required is True
