"""The PRO saga on the emulators, every hop through the bridge with chaos on (duplicated
and reordered deliveries to the saga's functions): a PRO subscription created and paid →
data service created, staffed, started, delivered → SagaCompleted; and a client who cancels
in the middle → everything done is undone (refund, data service cancelled) → SagaCompensated.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

import functions.data_services.messages
import functions.sagas.messages  # noqa: F401 - registers the types the watchers read
from infra.samples.clients import SAMPLE_CLIENT
from infra.samples.experts import register_all
from shared.ports.envelope import Envelope
from tests.conftest import ChaosSwitch
from tests.e2e.conftest import TopicWatcher
from tests.unit.ingestion.helpers import study

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
COMPLETED = "co.saludtech.sagas.saga.completed.v1"
COMPENSATED = "co.saludtech.sagas.saga.compensated.v1"
SAGA_FUNCTIONS = [
    "trigger-sagas-on-subscription-created",
    "trigger-sagas-on-subscription-paid",
    "trigger-sagas-on-data-service-created",
    "trigger-sagas-on-expert-assigned",
    "trigger-sagas-on-data-service-started",
    "trigger-sagas-on-data-service-delivered",
    "trigger-sagas-on-subscription-cancelled",
    "trigger-sagas-on-payment-refunded",
    "trigger-sagas-on-data-service-cancelled",
]


def eventually(probe: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


def _images_in_catalogue(stack: Any) -> None:
    """At least one anonymized image in the data services' catalogue, so a dataset resolves."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]
    from google.cloud.firestore_v1.base_query import FieldFilter

    center = f"saga-center-{uuid.uuid4().hex[:8]}"
    ingest = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
    # A seed of its own: e2e tests share one stack, and the same images uploaded by another
    # centre are a conflict (test_e2e_seeds keeps the seeds apart).
    for index, data in enumerate(study(n_instances=2, seed=71)):
        ingest.blob(f"{center}/{index}.dcm").upload_from_string(data)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = firestore.Client(project=stack.project_id).collection(
        f"{prefix}data_services_catalogue"
    )
    found = eventually(
        lambda: list(catalogue.where(filter=FieldFilter("data_source", "==", center)).stream())
    )
    assert found, "the catalogue projection did not get the images"


def _subscribe(http: requests.Session, base: str, correlation: str) -> str:
    answer = http.post(
        f"{base}/subscriptions_commands_http/subscriptions",
        json={"client": {**SAMPLE_CLIENT, "code": f"c{uuid.uuid4().hex[:8]}"}, "plan": "PRO"},
        headers={"X-Correlation-ID": correlation},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["subscription_id"])


def _pay(http: requests.Session, base: str, subscription_id: str, correlation: str) -> None:
    answer = http.post(
        f"{base}/subscriptions_commands_http/subscriptions/{subscription_id}/payments",
        json={"card_token": "tok_visa"},
        headers={"X-Correlation-ID": correlation},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


def _saga_of(http: requests.Session, base: str, subscription_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        page = http.get(
            f"{base}/sagas_queries_http/sagas",
            params={"subscription_id": subscription_id},
            timeout=30,
        ).json()
        return page["items"][0] if page.get("items") else None

    saga = eventually(found)
    assert saga, "no saga started"
    return dict(saga)


def _ended(events: TopicWatcher, subscription_id: str) -> list[Envelope]:
    """The saga's outcome events, each once (a redelivered message republishes its outbox:
    the same event, same id)."""
    found = [
        e
        for e in events.wait_for(
            lambda found: any(
                e.type in (COMPLETED, COMPENSATED)
                and getattr(e.payload, "subscription_id", "") == subscription_id
                for e in found
            ),
            180,
        )
        if e.type in (COMPLETED, COMPENSATED)
        and getattr(e.payload, "subscription_id", "") == subscription_id
    ]
    return list({e.id: e for e in found}.values())


def test_a_paid_pro_subscription_is_provisioned_and_announced_ready(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher], chaos: ChaosSwitch
) -> None:
    base = stack.functions_url
    events, commands = watch("sagas-events"), watch("data-services-commands")
    register_all(base)
    _images_in_catalogue(stack)
    chaos.set(stack, duplicate_rate=0.3, reorder_window=3, seed=11, subscriptions=SAGA_FUNCTIONS)
    correlation = f"e2e-saga-{uuid.uuid4().hex[:8]}"
    subscription_id = _subscribe(http, base, correlation)
    _pay(http, base, subscription_id, f"e2e-pay-{uuid.uuid4().hex[:8]}")

    [ended] = _ended(events, subscription_id)  # once, however often the bridge duplicated
    assert ended.type == COMPLETED, ended
    saga = _saga_of(http, base, subscription_id)
    assert saga["status"] == "COMPLETED"
    assert [s["status"] for s in saga["steps"]] == ["DONE"] * 5
    log = http.get(f"{base}/sagas_queries_http/sagas/{saga['saga_id']}/log", timeout=30).json()
    assert {e["status"] for e in log["items"]} >= {"RECEIVED", "PROCESSED"}
    # Every command of the saga carries the correlation id of the request that started it.
    commands.pull()
    mine = [e for e in commands.envelopes() if e.causation_id and e.source == "/saludtech/sagas"]
    ours = [e for e in mine if e.correlation_id == correlation]
    assert {type(e.payload).__name__ for e in ours} == {
        "CreateDataService",
        "AssignExpert",
        "StartDataService",
    }


def test_a_cancel_in_the_middle_undoes_what_was_done(
    stack: Any, http: requests.Session, watch: Callable[[str], TopicWatcher], chaos: ChaosSwitch
) -> None:
    base = stack.functions_url
    events = watch("sagas-events")
    register_all(base)
    chaos.set(stack, duplicate_rate=0.3, reorder_window=3, seed=12, subscriptions=SAGA_FUNCTIONS)
    subscription_id = _subscribe(http, base, f"e2e-saga-{uuid.uuid4().hex[:8]}")
    _pay(http, base, subscription_id, f"e2e-pay-{uuid.uuid4().hex[:8]}")
    saga = _saga_of(http, base, subscription_id)
    paid = eventually(
        lambda: (
            http.get(f"{base}/sagas_queries_http/sagas/{saga['saga_id']}", timeout=30).json()[
                "steps"
            ][1]["status"]
            == "DONE"
        )
    )
    assert paid
    cancel = http.post(
        f"{base}/subscriptions_commands_http/subscriptions/{subscription_id}/cancel",
        json={"reason": "budget"},
        timeout=30,
    )
    assert cancel.status_code == 202, cancel.text

    [ended] = _ended(events, subscription_id)
    # Unless the whole saga won the race against the cancel, it is undone.
    if ended.type == COMPLETED:
        pytest.skip("the saga completed before the cancel arrived")
    assert ended.payload.reason == "subscription_cancelled"  # type: ignore[attr-defined]
    subscription = http.get(
        f"{base}/subscriptions_queries_http/subscriptions/{subscription_id}", timeout=30
    ).json()
    assert subscription["status"] == "CANCELLED"
    assert [i["status"] for i in subscription["invoices"]] == ["REFUNDED"]
    saga = http.get(f"{base}/sagas_queries_http/sagas/{saga['saga_id']}", timeout=30).json()
    assert saga["status"] == "COMPENSATED"
    service_id = saga["facts"]["data_service_id"]
    service = http.get(f"{base}/data_services_queries_http/data-services/{service_id}", timeout=30)
    assert service.status_code == 404 or service.json()["status"] == "CANCELLED"
