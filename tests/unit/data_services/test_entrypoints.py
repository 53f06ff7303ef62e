"""The HTTP doors: 202 with where to look, 404 for what can never exist, 4xx with a reason
for bad input, and the queries, over a whole delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import functions_framework
import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import NAMES
from tests.unit.data_services.factories import (
    CLIENT_CODE,
    create_command,
    register_command,
    subscription_created,
)
from tests.unit.data_services.flow import Pump, catalogue, send, the_wiring

MAIN = str(Path(__file__).parents[3] / "main.py")


def client(target: str) -> Any:
    return functions_framework.create_app(target, MAIN).test_client()  # type: ignore[no-untyped-call]


def create_body(**changes: Any) -> dict[str, Any]:
    body = create_command(anatomical_region="chest").model_dump(
        exclude={"data_service_id", "cloud_place"}
    )
    return {**body, **changes}


@pytest.fixture
def doors(platform: InMemoryPlatform) -> tuple[Any, Any, Pump]:
    the_wiring().delivery.chunk_size = 3
    send(subscription_created())
    return (
        client("data_services_commands_http"),
        client("data_services_queries_http"),
        Pump(platform),
    )


def test_a_dataset_ordered_over_http_is_delivered_and_queried(
    platform: InMemoryPlatform, doors: tuple[Any, Any, Pump]
) -> None:
    commands, queries, pump = doors
    catalogue(platform, 7)
    for index in range(2):
        assert (
            commands.post("/experts", json=register_command(index).model_dump()).status_code == 202
        )
    pump.run()
    created = commands.post("/data-services", json=create_body(), headers={"Idempotency-Key": "k1"})
    assert created.status_code == 202
    service_id = created.get_json()["subject"]
    pump.run()
    for step in ("expert", "dataset", "start"):
        assert commands.post(f"/data-services/{service_id}/{step}", json={}).status_code == 202
        pump.run()
    view = queries.get(f"/data-services/{service_id}").get_json()
    # Either chest expert: the service's id ranks their free slots (ADR 0014).
    code = view["expert_code"]
    assert view["status"] == "DELIVERED" and code in ("EXP-001", "EXP-002")
    assert view["progress"] == {
        "chunks": 3, "chunks_delivered": 3, "objects_delivered": 7, "objects_copied": 7,
        "chunks_revoked": 0,
    }  # fmt: skip
    # A bucket target without a bucket of the buyer's: fetched through the files route.
    assert view["delivery"]["manifest_uri"].endswith(f"{service_id}/files#manifest.jsonl")
    assert view["where"]["files_url"].endswith(f"/v1/data-services/{service_id}/files")
    page = queries.get(f"/data-services/{service_id}/manifest?chunk=2").get_json()
    assert len(page["entries"]) == 1 and page["next_chunk"] is None
    mine = queries.get(f"/data-services?client_code={CLIENT_CODE}").get_json()["items"]
    assert [s["data_service_id"] for s in mine] == [service_id]
    work = queries.get(f"/experts/{code}/assignments").get_json()["items"]
    assert [s["data_service_id"] for s in work] == [service_id]
    expert = queries.get(f"/experts/{code}").get_json()
    assert expert["load"] == 1 and "email" not in expert and "national_id" not in expert
    status = queries.get(f"/commands/{created.get_json()['command_id']}").get_json()
    assert status["status"] == "applied"


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/data-services/ds-nobody/start", {}, 404, "data_service_not_found"),
        ("/data-services", {"subscription_id": "sub-nobody"}, 404, "subscription_not_found"),
        ("/data-services", {"expert_code": "EXP-404"}, 404, "expert_not_found"),
        ("/data-services", {"plan": {"code": "BASIC"}}, 400, "unknown_plan"),
        ("/data-services", {"cloud": {"code": "c", "type": "ftp"}}, 400, "unknown_cloud_type"),
        (
            "/data-services",
            {"dataset": {"code": "d", "criteria": {"max_images": 0}}},
            400,
            "schema_violation",
        ),
        (
            "/data-services",
            {"dataset": {"code": "d", "criteria": {"split": {"train": 90}}}},
            400,
            "invalid_split",
        ),
        (
            "/data-services",
            {"dataset": {"code": "d", "criteria": {"max_images": 10**6}}},
            400,
            "dataset_exceeds_plan",
        ),
        ("/experts", {**register_command().model_dump(), "email": "nope"}, 400, "invalid_email"),
        (
            "/subscriptions/sub-nobody/data-request",
            {"dataset": {"code": "d"}, "cloud": {"code": "c", "type": "bucket"}},
            404,
            "subscription_not_found",
        ),
        (
            "/subscriptions/sub-1/data-request",
            {"dataset": {"code": "d"}, "cloud": {"code": "c", "type": "ftp"}},
            400,
            "unknown_cloud_type",
        ),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason_and_nothing_is_published(
    platform: InMemoryPlatform, doors: tuple[Any, Any, Pump], path: str, body: dict[str, Any],
    status: int, reason: str,
) -> None:  # fmt: skip
    commands, _, _ = doors
    sent = create_body(**body) if path == "/data-services" else body
    response = commands.post(path, json=sent)
    assert response.status_code == status
    assert response.get_json()["error"]["reason"] == reason
    assert platform.publisher.messages(NAMES.commands_topic) == []


def test_a_data_request_is_accepted_for_a_projected_subscription(
    platform: InMemoryPlatform, doors: tuple[Any, Any, Pump]
) -> None:
    commands, queries, pump = doors
    body = {
        "dataset": {"code": "d", "criteria": {"modality": "ct"}},
        "cloud": {"code": "c", "type": "links"},
    }
    answer = commands.post("/subscriptions/sub-1/data-request", json=body)
    assert answer.status_code == 202, answer.get_json()
    pump.run()
    status = queries.get(answer.get_json()["links"]["command"].split("_http", 1)[1]).get_json()
    assert status["status"] == "applied"


def test_queries_answer_404_and_refuse_unknown_parameters(doors: tuple[Any, Any, Pump]) -> None:
    _, queries, _ = doors
    assert queries.get("/data-services/ds-x").status_code == 404
    assert queries.get("/data-services/ds-x/manifest").status_code == 404
    assert queries.get("/experts/EXP-404").status_code == 404
    assert queries.get("/data-services").get_json()["error"]["reason"] == "missing_parameter"
    assert queries.get("/data-services?client_code=1&color=red").status_code == 400
    assert queries.get("/data-services/ds-x/manifest?chunk=-1").status_code == 400
