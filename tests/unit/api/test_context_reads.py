"""The api reads each context at that context's query door, with the caller's scope as the
door's filter: a center its quarantine, a client its data services and notifications, an
expert their assignments. Each context's records are written where that context keeps them;
the api holds none of them."""

from __future__ import annotations

from typing import Any

from functions import bootstrap
from functions.api.context_doors import DOORS, INGESTION_QUERIES
from functions.data_services import wiring as data_services
from functions.ingestion import wiring as ingestion
from functions.notifications import wiring as notifications
from infra.local.topology import invoked_functions, load_topology
from shared.ports.doors import DoorUnavailable
from tests.unit.api.conftest import Api


def _put(api: Api, collection: str, doc_id: str, document: dict[str, Any]) -> None:
    api.platform.store.run_in_transaction(lambda tx: tx.put(collection, doc_id, document))


def _rejection(api: Api, rejection_id: str, center: str, at: str) -> None:
    collection = bootstrap.context(ingestion.build).collections.rejections
    _put(api, collection, rejection_id, {
        "rejection_id": rejection_id, "data_source": center, "reason": "not_dicom",
        "detail": "", "package_id": None, "entry_index": None, "rejected_at": at,
        "object": "kept-out-of-the-view",
    })  # fmt: skip


def test_a_center_reads_only_its_own_quarantine_newest_first_in_pages(api: Api) -> None:
    for index, center in enumerate(["hospital-1", "hospital-2", "hospital-1", "hospital-1"]):
        _rejection(api, f"rej-{index}", center, f"2026-03-01T00:00:0{index}.000Z")
    token = api.login("center-a")
    first = api.call("GET", "/v1/quarantine", token=token, query={"limit": "2"}).body
    assert [r["rejection_id"] for r in first["items"]] == ["rej-3", "rej-2"]
    assert set(first["items"][0]) == {
        "rejection_id", "reason", "detail", "package_id", "entry_index", "rejected_at"
    }  # fmt: skip
    rest = api.call("GET", "/v1/quarantine", token=token, query={"cursor": first["next_cursor"]})
    assert [r["rejection_id"] for r in rest.body["items"]] == ["rej-0"]
    assert rest.body["next_cursor"] is None
    other = api.call("GET", "/v1/quarantine", token=api.login("center-b")).body
    assert [r["rejection_id"] for r in other["items"]] == ["rej-1"]


def _service(api: Api, service_id: str, client: str, expert: str | None, at: str) -> None:
    collection = bootstrap.context(data_services.build).collections.services
    _put(api, collection, service_id, {
        "data_service_id": service_id, "subscription_id": f"sub-{service_id}",
        "client_code": client, "plan_code": "PRO",
        "cloud": {"code": "GCP", "name": "", "type": "bucket"},
        "dataset": {"code": "CT", "name": "", "criteria": {}}, "speciality": "RADIOLOGY",
        "status": "EXPERT_ASSIGNED" if expert else "CREATED",
        "created_at": at, "expert_code": expert, "assigned_at": at if expert else None,
    })  # fmt: skip


def test_clients_and_experts_read_only_their_own_data_services(api: Api) -> None:
    _service(api, "ds-1", "0001", "EXP-1", "2026-03-01T00:00:01.000Z")
    _service(api, "ds-2", "0002", "EXP-2", "2026-03-01T00:00:02.000Z")
    _service(api, "ds-3", "0001", None, "2026-03-01T00:00:03.000Z")
    mine = api.call("GET", "/v1/data-services", token=api.login("client-a")).body
    assert [s["data_service_id"] for s in mine["items"]] == ["ds-3", "ds-1"]
    theirs = api.call("GET", "/v1/data-services", token=api.login("client-b")).body
    assert [s["data_service_id"] for s in theirs["items"]] == ["ds-2"]
    assigned = api.call("GET", "/v1/assignments", token=api.login("expert-a")).body
    assert [s["data_service_id"] for s in assigned["items"]] == ["ds-1"]


def test_a_client_reads_only_the_notifications_told_to_it(api: Api) -> None:
    collection = bootstrap.context(notifications.build).storage.view.collection
    for index, recipient in enumerate(["client-0001", "client-0002", "center-hospital-1"]):
        _put(api, collection, f"n-{index}", {
            "notification_id": f"n-{index}", "recipient_id": recipient, "channel": "email",
            "template": "subscription_created", "status": "sent",
            "created_at": f"2026-03-01T00:00:0{index}.000Z",
        })  # fmt: skip
    told = api.call("GET", "/v1/notifications", token=api.login("client-a")).body
    assert [n["notification_id"] for n in told["items"]] == ["n-0"]
    assert told["items"][0]["summary"] == "subscription_created by email: sent"


def test_a_door_that_does_not_answer_is_a_503(api: Api, monkeypatch: Any) -> None:
    token, working = api.login("center-a"), api.platform.doors.call

    def ingestion_down(target: str, *args: Any, **kwargs: Any) -> Any:
        if target == INGESTION_QUERIES:
            raise DoorUnavailable(f"{target} did not answer")
        return working(target, *args, **kwargs)

    monkeypatch.setattr(api.platform.doors, "call", ingestion_down)
    answer = api.call("GET", "/v1/images", token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (503, "unavailable")


def test_the_api_may_invoke_every_door_it_calls() -> None:
    topology = load_topology()
    functions = {f.target: name for name, f in topology.functions.items()}
    assert {functions[door] for door in DOORS} <= invoked_functions(topology, "api")
