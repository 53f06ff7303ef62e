"""What the buyer is told about where its data is: the delivered and ready notifications
say what the delivery said (never an empty link or date), on the in-memory platform."""

from __future__ import annotations

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.notifications.messages import Fact
from functions.notifications.templates import render
from tests.support.delivery import deliver_raw
from tests.unit.data_services.flow import assigned_service, catalogue, start


@pytest.mark.parametrize(
    ("facts", "said"),
    [
        (
            {"fetch_hint": "gcloud storage cp -r gs://b/ds-1 .", "location": "gs://b/ds-1"},
            "To fetch it: gcloud storage cp -r gs://b/ds-1 .",
        ),
        (
            {"fetch_hint": "gcloud storage cp -r gs://d/ds-1 .", "location": "gs://d/ds-1",
             "access_until": "2027-01-08T10:00:00.000Z"},
            "Your access ends at 2027-01-08T10:00:00.000Z.",
        ),
        ({"links_expire_at": "2026-12-08T10:00:00.000Z"}, "Its links expire at 2026-12-08"),
        ({}, "GET /v1/data-services/ds-1 says where it is and how to fetch it."),
    ],
)  # fmt: skip
def test_the_delivered_email_says_where_and_never_an_empty_value(
    facts: dict[str, Fact], said: str
) -> None:
    base: dict[str, Fact] = {"data_service_id": "ds-1", "objects": 3, "delivery_mode": "bucket"}
    _, text = render("data_service_delivered", {**base, **facts})
    assert said in text
    assert "(links=" not in text and "at ." not in text and "None" not in text


def test_the_ready_email_says_how_to_fetch_or_where_to_ask() -> None:
    facts: dict[str, Fact] = {"plan": "PRO", "data_service_id": "ds-1", "subscription_id": "s-1"}
    _, told = render("data_service_ready", {**facts, "fetch_hint": "GET https://x/files"})
    assert "To fetch it: GET https://x/files." in told
    _, unknown = render("data_service_ready", facts)
    assert "GET /v1/data-services/ds-1 says where it is" in unknown


def test_the_delivered_notification_carries_the_deliverys_fetch_hint(
    platform: InMemoryPlatform,
) -> None:
    catalogue(platform, 3)
    service_id = assigned_service(
        platform, cloud_type="managed_folder", cloud={"principal": "user:ana@example.com"}
    )
    start(platform, service_id).run()
    for envelope in platform.publisher.messages("data-services-events"):
        if envelope.type.endswith((".created.v1", ".delivered.v1")):
            deliver_raw(
                "data-services-events", *envelope.to_pubsub(), envelope.id
            )  # as Pub/Sub pushes it to the notifications
    created = [
        e.payload
        for e in platform.publisher.messages("notifications-events")
        if e.type.endswith("notification.created.v1")
        and getattr(e.payload, "template", "") == "data_service_delivered"
    ]
    assert created, "no delivered notification"
    facts = created[-1].facts  # type: ignore[attr-defined]
    assert (
        facts["fetch_hint"] == f"gcloud storage cp -r gs://saludtech-local-delivery/{service_id} ."
    )
    assert facts["access_until"] and "user:ana@example.com" not in str(facts)
