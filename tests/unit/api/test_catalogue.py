"""Before buying, through the api: a client reads the catalogue's counts for its criteria
and quotes a dataset on a plan with its price; other roles are 403, anonymous callers
401, bad parameters 400 and a dataset under the minimum cell size 422, each with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from functions.api.context_doors import DATA_SERVICES_QUERIES
from functions.subscriptions.plans import CATALOGUE
from shared.ports.doors import DoorUnavailable
from tests.unit.api.conftest import Api
from tests.unit.api.test_openapi import conforms
from tests.unit.data_services.factories import image_event
from tests.unit.data_services.flow import send

COUNTS, QUOTES = "/v1/catalogue/counts", "/v1/quotes"
QUOTE = {"plan": "PRO", "dataset_code": "chest-ct", "criteria": {"modality": "ct"}}


@pytest.fixture
def catalogue(api: Api) -> Api:
    for index in range(36):  # 12 patients of 3 CT images each
        send(image_event(index))
    for index in range(100, 106):  # 3 patients of 1 to 3 MR images
        send(image_event(index, modality="MR"))
    return api


def test_a_client_reads_counts_that_identify_no_one(catalogue: Api) -> None:
    token = catalogue.login("client-a")
    answer = catalogue.call("GET", COUNTS, token=token, query={"group_by": "modality"})
    assert answer.status == 200, answer.body
    conforms(COUNTS, "GET", answer)
    # 42 images, 15 studies of 15 patients: rounded down to a multiple of 5.
    assert answer.body["total"] == {
        "suppressed": False, "images": 40, "studies": 15, "patients": 15, "below": None,
    }  # fmt: skip
    assert [(g["value"], g["suppressed"]) for g in answer.body["groups"]] == [
        ("CT", False), (None, True),
    ]  # fmt: skip
    assert "pt-" not in str(answer.body) and "img-" not in str(answer.body)
    few = catalogue.call("GET", COUNTS, token=token, query={"modality": "mr"})
    assert few.body["total"]["suppressed"] and few.body["total"]["images"] is None


def test_a_client_quotes_a_dataset_with_its_price(catalogue: Api) -> None:
    answer = catalogue.call("POST", QUOTES, QUOTE, token=catalogue.login("client-a"))
    assert answer.status == 200, answer.body
    conforms(QUOTES, "POST", answer)
    assert (answer.body["images"], answer.body["patients"]) == (35, 10)  # 36 and 12, rounded
    pro = CATALOGUE["PRO"]
    assert answer.body["price"] == {
        "code": "PRO", "name": pro.name, "price_cents": pro.price_cents,
        "currency": pro.currency, "billing_period": pro.billing_period.value,
        "provisions_data_service": True,
    }  # fmt: skip
    assert set(answer.body["splits"]) == {"train", "validation", "test"}


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({**QUOTE, "plan": "BASIC"}, 422, "unknown_plan"),
        ({**QUOTE, "criteria": {"modality": "MR"}}, 422, "dataset_too_small"),
        ({**QUOTE, "criteria": {"ingested_to": "2026-11-01"}}, 400, "invalid_date"),
        ({**QUOTE, "criteria": {"max_images": 0}}, 400, "schema_violation"),
        ({**QUOTE, "price_cents": 1}, 400, "schema_violation"),
    ],
)
def test_a_quote_that_cannot_be_given_says_why(
    catalogue: Api, body: dict[str, Any], status: int, reason: str
) -> None:
    answer = catalogue.call("POST", QUOTES, body, token=catalogue.login("client-a"))
    assert (answer.status, answer.body["error"]["reason"]) == (status, reason)
    conforms(QUOTES, "POST", answer)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"ingested_from": "yesterday"}, "invalid_date"),
        ({"group_by": "patient"}, "schema_violation"),
        ({"patient_token": "pt-00001"}, "unknown_parameter"),
        ({"center": "hospital-1"}, "unknown_parameter"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    catalogue: Api, query: dict[str, str], reason: str
) -> None:
    answer = catalogue.call("GET", COUNTS, token=catalogue.login("client-a"), query=query)
    assert (answer.status, answer.body["error"]["reason"]) == (400, reason)
    conforms(COUNTS, "GET", answer)


@pytest.mark.parametrize("user", ["expert-a", "center-a", "operator"])
def test_other_roles_are_refused(catalogue: Api, user: str) -> None:
    token = catalogue.login(user)
    for method, path, body in (("GET", COUNTS, None), ("POST", QUOTES, QUOTE)):
        answer = catalogue.call(method, path, body, token=token)
        assert (answer.status, answer.body["error"]["reason"]) == (403, "forbidden")


def test_anonymous_callers_are_401(catalogue: Api) -> None:
    assert catalogue.call("GET", COUNTS).status == 401
    assert catalogue.call("POST", QUOTES, QUOTE).status == 401


def test_data_services_down_is_a_503(catalogue: Api, monkeypatch: Any) -> None:
    token, working = catalogue.login("client-a"), catalogue.platform.doors.call

    def down(target: str, *args: Any, **kwargs: Any) -> Any:
        if target == DATA_SERVICES_QUERIES:
            raise DoorUnavailable(f"{target} did not answer")
        return working(target, *args, **kwargs)

    monkeypatch.setattr(catalogue.platform.doors, "call", down)
    for method, path, body in (("GET", COUNTS, None), ("POST", QUOTES, QUOTE)):
        answer = catalogue.call(method, path, body, token=token)
        assert (answer.status, answer.body["error"]["reason"]) == (503, "unavailable")


def test_the_minimum_cell_size_is_a_setting() -> None:
    from tests.unit.api.conftest import make_api

    made = make_api(catalogue_min_cell=15)
    api = next(made)
    try:
        for index in range(36):
            send(image_event(index))
        answer = api.call("GET", COUNTS, token=api.login("client-a"))
        assert answer.body["min_cell"] == 15 and answer.body["total"]["below"] == 15
    finally:
        next(made, None)
