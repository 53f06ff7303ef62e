"""The queries door's counts and quotes, over the catalogue projection in memory: criteria
normalized and checked as a data request's, counts under the minimum cell size, and a
quote that resolves the dataset as a data service's prepare does."""

from __future__ import annotations

from typing import Any

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.catalogue_counts import rounded
from functions.data_services.messages import NAMES, DatasetPrepared
from tests.unit.data_services.factories import image_event
from tests.unit.data_services.flow import assigned_service, catalogue, prepare, send
from tests.unit.data_services.test_entrypoints import client

K = 10  # the default minimum cell size


@pytest.fixture
def queries(platform: InMemoryPlatform) -> Any:
    catalogue(platform, 45)  # 15 patients of 3 CT images of the chest each
    for index in range(100, 106):  # 2 patients of 3 MR images of the head each
        send(image_event(index, modality="MR", region="HEAD", source="hospital-2"))
    return client("data_services_queries_http")


def test_a_buyer_reads_counts_for_its_criteria(queries: Any) -> None:
    everything = queries.get("/catalogue/counts").get_json()
    assert everything["total"] == {
        "suppressed": False, "images": 50, "studies": 15, "patients": 15, "below": None,
    }  # fmt: skip
    # Codes as the catalogue stores them, whatever their case.
    ct = queries.get("/catalogue/counts?modality=ct&anatomical_region=Chest").get_json()
    assert (ct["total"]["images"], ct["total"]["patients"]) == (45, 15)
    mr = queries.get("/catalogue/counts?sources=hospital-2,hospital-9").get_json()
    assert mr["total"]["suppressed"] and mr["total"]["below"] == K
    window = "ingested_from=2026-11-01T00:00:00Z&ingested_to=2026-11-02T00:00:00%2B00:00"
    assert queries.get(f"/catalogue/counts?{window}").get_json()["total"]["images"] == 50


def test_a_breakdown_names_only_the_values_of_k_patients_or_more(queries: Any) -> None:
    answer = queries.get("/catalogue/counts?group_by=modality").get_json()
    assert answer["group_by"] == "modality"
    assert [(g["value"], g["other"], g["suppressed"]) for g in answer["groups"]] == [
        ("CT", False, False), (None, True, True),
    ]  # fmt: skip
    assert "MR" not in str(answer)


@pytest.mark.parametrize(
    ("query", "reason", "field"),
    [
        ("ingested_from=yesterday", "invalid_date", "ingested_from"),
        ("ingested_to=2026-11-01T00:00:00", "invalid_date", "ingested_to"),
        ("ingested_from=2026-11-02T00:00:00Z&ingested_to=2026-11-01T00:00:00Z",
         "invalid_date_range", None),
        ("group_by=patient_token", "schema_violation", "group_by"),
        ("patient_token=pt-00001", "unknown_parameter", "patient_token"),
        (f"modality={'x' * 17}", "schema_violation", "modality"),
        ("sources=" + ",".join(f"h{n}" for n in range(31)), "schema_violation", "sources"),
    ],
)  # fmt: skip
def test_bad_criteria_are_400_with_a_reason(
    queries: Any, query: str, reason: str, field: str | None
) -> None:
    answer = queries.get(f"/catalogue/counts?{query}")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["reason"] == reason
    assert answer.get_json()["error"].get("field") == field


def test_a_quote_counts_the_dataset_a_prepare_would_freeze(
    platform: InMemoryPlatform, queries: Any
) -> None:
    body = {"plan": "pro", "dataset_code": "chest-ct", "criteria": {"anatomical_region": "chest"}}
    quote = queries.post("/quotes", json=body)
    assert quote.status_code == 200, quote.get_json()
    quoted = quote.get_json()
    assert (quoted["plan"], quoted["max_images"], quoted["min_cell"]) == ("PRO", 10_000, K)
    assert (quoted["images"], quoted["studies"], quoted["patients"]) == (45, 15, 15)
    # The same criteria and dataset code, prepared by a data service (flow.assigned_service).
    prepare(assigned_service(platform))
    prepared = next(
        e.payload for e in platform.publisher.messages(NAMES.events_topic)
        if isinstance(e.payload, DatasetPrepared)
    )  # fmt: skip
    assert (prepared.images, prepared.patients) == (45, 15)
    for split, images in prepared.splits.items():
        cell = quoted["splits"][split]
        assert cell["images"] == (None if cell["suppressed"] else rounded(images, K))
    capped = queries.post("/quotes", json={**body, "criteria": {"max_per_patient": 1}})
    assert (capped.get_json()["images"], capped.get_json()["patients"]) == (15, 15)
    assert queries.post("/quotes", json={"plan": "PRO"}).get_json()["images"] == 50


@pytest.mark.parametrize(
    ("body", "status", "reason", "field"),
    [
        ({"plan": "BASIC"}, 422, "unknown_plan", "plan"),
        ({"plan": "PRO", "criteria": {"modality": "MR"}}, 422, "dataset_too_small", "criteria"),
        ({"plan": "PRO", "criteria": {"max_images": 9}}, 422, "dataset_too_small", "criteria"),
        ({"plan": "PRO", "criteria": {"max_images": 10_001}}, 422, "dataset_exceeds_plan",
         "criteria.max_images"),
        ({"plan": "PRO", "criteria": {"split": {"train": 90}}}, 400, "invalid_split",
         "criteria.split"),
        ({"plan": "PRO", "criteria": {"ingested_from": "2026-11-01"}}, 400, "invalid_date",
         "criteria.ingested_from"),
        ({"plan": "PRO", "dataset_code": "a b"}, 400, "invalid_dataset_code", "dataset_code"),
        ({"plan": "PRO", "patients": 1}, 400, "schema_violation", "patients"),
    ],
)  # fmt: skip
def test_a_quote_that_cannot_be_given_says_why(
    queries: Any, body: dict[str, Any], status: int, reason: str, field: str
) -> None:
    answer = queries.post("/quotes", json=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"]["reason"] == reason
    assert answer.get_json()["error"].get("field") == field


def test_another_centers_copy_of_an_instance_is_counted_once(queries: Any) -> None:
    """A referral (docs/decisions/0013-referrals.md): the second center's copy is its own
    image of its own pseudonymous patient, with the same instance_key; counted once."""
    before = queries.get("/catalogue/counts").get_json()["total"]
    for index in range(45):  # hospital-9's copies of the 45 CT images, as ingestion keys them
        copy = image_event(500 + index, source="hospital-9")
        send(copy.model_copy(update={"instance_key": f"instance-{index:06d}"}))
    for index in range(45):  # and the first center's own, now keyed too
        send(image_event(index).model_copy(update={"instance_key": f"instance-{index:06d}"}))
    after = queries.get("/catalogue/counts").get_json()["total"]
    assert after["images"] == before["images"]
