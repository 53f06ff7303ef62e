"""The PRO saga on the emulators, every hop through the bridge with chaos on (duplicated
and reordered deliveries to the saga's functions): a PRO subscription created and paid →
data service created, staffed and its dataset prepared (in parallel), started, delivered →
SagaCompleted; a client who cancels in the middle → everything done is undone (refund, data
service cancelled) → SagaCompensated; and one failure per step that a client or the state
of the platform causes (three declined cards, a dataset of no image, a speciality nobody
covers, an image gone before its delivery), each undone in reverse order, run side by side.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

import functions.data_services.messages
import functions.sagas.messages  # noqa: F401 - registers the types the watchers read
from infra.samples.clients import SAMPLE_CLIENT
from infra.samples.experts import register_all
from shared.ports.envelope import Envelope
from shared.service.context import database_of
from tests.conftest import ChaosSwitch
from tests.e2e.conftest import TopicWatcher
from tests.unit.ingestion.helpers import study

DATA_SERVICES_DB = database_of("data_services")  # whose catalogue projection is read

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
COMPLETED = "co.saludtech.sagas.saga.completed.v1"
COMPENSATED = "co.saludtech.sagas.saga.compensated.v1"
SAGA_FUNCTIONS = [
    "trigger-sagas-on-subscription-created",
    "trigger-sagas-on-subscription-paid",
    "trigger-sagas-on-data-service-created",
    "trigger-sagas-on-expert-assigned",
    "trigger-sagas-on-dataset-prepared",
    "trigger-sagas-on-data-service-started",
    "trigger-sagas-on-data-service-delivered",
    "trigger-sagas-on-subscription-cancelled",
    "trigger-sagas-on-payment-refunded",
    "trigger-sagas-on-data-service-cancelled",
    "trigger-sagas-on-payment-declined",
    "trigger-sagas-on-data-service-failed",
    "trigger-sagas-on-data-services-command-rejected",
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
    catalogue = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB).collection(
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


def _pay(
    http: requests.Session,
    base: str,
    subscription_id: str,
    correlation: str,
    card: str = "tok_visa",
) -> None:
    answer = http.post(
        f"{base}/subscriptions_commands_http/subscriptions/{subscription_id}/payments",
        json={"card_token": card},
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
    assert [s["status"] for s in saga["steps"]] == ["DONE"] * 6
    log = http.get(f"{base}/sagas_queries_http/sagas/{saga['saga_id']}/log", timeout=30).json()
    assert {e["status"] for e in log["items"]} >= {"RECEIVED", "PROCESSED"}
    # Every command of the saga carries the correlation id of the request that started it.
    commands.pull()
    mine = [e for e in commands.envelopes() if e.causation_id and e.source == "/saludtech/sagas"]
    ours = [e for e in mine if e.correlation_id == correlation]
    assert {type(e.payload).__name__ for e in ours} == {
        "CreateDataServiceV2",
        "AssignExpert",
        "PrepareDataset",
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


# -- one failure per step, each caused the way a client or the platform's state causes it --
UNDO_ALL = ["data_service", "payment", "subscription"]  # the reverse of the order done
FAILURES: dict[str, dict[str, Any]] = {
    # The client's card is declined three times: the payment step gives up.
    "payment": {"cards": ["tok_declined"] * 3, "reason": "card_declined", "undo": ["subscription"]},
    # The client asks for a dataset of a source with no image: the prepare is refused,
    # after (or while) the expert was assigned in parallel.
    "dataset": {
        "request": {"dataset": {"code": "empty", "criteria": {"sources": ["nowhere"]}},
                    "cloud": {"code": "c", "type": "links"}, "speciality": "NEURO"},
        "reason": "dataset_empty", "undo": UNDO_ALL, "sibling": "expert",
    },
    # A speciality no expert covers: the assignment is refused beside a prepared dataset.
    "expert": {
        "request": {"dataset": {"code": "own", "criteria": {"sources": ["{center}"]}},
                    "cloud": {"code": "c", "type": "links"}, "speciality": "VETERINARY"},
        "reason": "no_expert_available", "undo": UNDO_ALL, "sibling": "dataset",
    },
    # Delivered by copies; one of the images is gone from the anonymized bucket by then.
    "delivery": {
        "request": {"dataset": {"code": "own", "criteria": {"sources": ["{center}"]}},
                    "cloud": {"code": "c", "type": "bucket"}, "speciality": "NEURO"},
        "reason": "source_missing", "undo": UNDO_ALL, "service": "FAILED",
    },
}  # fmt: skip


def _own_images(stack: Any) -> tuple[str, list[dict[str, Any]]]:
    """Images of a centre of this test's own in the data services' catalogue."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]
    from google.cloud.firestore_v1.base_query import FieldFilter

    center = f"saga-fail-{uuid.uuid4().hex[:8]}"
    ingest = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
    for index, data in enumerate(study(n_instances=2, seed=73)):
        ingest.blob(f"{center}/{index}.dcm").upload_from_string(data)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = firestore.Client(project=stack.project_id, database=DATA_SERVICES_DB).collection(
        f"{prefix}data_services_catalogue"
    )
    query = catalogue.where(filter=FieldFilter("data_source", "==", center))
    found = eventually(
        lambda: [d.to_dict() for d in query.stream()] if len(list(query.stream())) == 2 else []
    )
    assert found, "the catalogue projection did not get the images"
    return center, found


def _request_data(base: str, subscription_id: str, request: dict[str, Any]) -> None:
    """The client's data request, once data services has projected its subscription."""
    with requests.Session() as http:
        url = f"{base}/data_services_commands_http/subscriptions/{subscription_id}/data-request"
        answer = eventually(
            lambda: (r := http.post(url, json=request, timeout=30)).status_code == 202 and r
        )
        assert answer, "the data request was never accepted"
        status_url = f"{base}{answer.json()['links']['command']}"
        outcome = eventually(
            lambda: (o := http.get(status_url, timeout=30).json()).get("status") != "pending" and o
        )
        assert outcome and outcome["status"] == "applied", outcome


def _run_failure(base: str, case: str, center: str) -> dict[str, Any]:
    spec = FAILURES[case]
    with requests.Session() as http:
        subscription_id = _subscribe(http, base, f"e2e-fail-{case}-{uuid.uuid4().hex[:6]}")
        if "request" in spec:
            request = json.loads(json.dumps(spec["request"]).replace("{center}", center))
            _request_data(base, subscription_id, request)
        for card in spec.get("cards", ["tok_visa"]):
            _pay(http, base, subscription_id, f"e2e-pay-{uuid.uuid4().hex[:8]}", card)
            time.sleep(0.5)  # each charge its own attempt, in the order made
        saga = _saga_of(http, base, subscription_id)
        url = f"{base}/sagas_queries_http/sagas/{saga['saga_id']}"
        ended = eventually(
            lambda: (
                (s := http.get(url, timeout=30).json())["status"]
                in ("COMPENSATED", "STUCK", "COMPLETED")
                and s
            ),
            200,
        )
        assert ended, f"{case}: the saga never ended"
        log = http.get(f"{url}/log", params={"limit": 100}, timeout=30).json()["items"]
        subscription = http.get(
            f"{base}/subscriptions_queries_http/subscriptions/{subscription_id}", timeout=30
        ).json()
        service = http.get(
            f"{base}/data_services_queries_http/data-services/{ended['facts']['data_service_id']}",
            timeout=30,
        )
        return {
            "subscription_id": subscription_id, "saga": ended, "log": log,
            "subscription": subscription,
            "service": service.json() if service.status_code == 200 else None,
        }  # fmt: skip


def test_a_failure_at_each_step_is_undone_in_reverse_order(
    stack: Any, watch: Callable[[str], TopicWatcher], chaos: ChaosSwitch
) -> None:
    from google.cloud import storage  # type: ignore[attr-defined]

    base = stack.functions_url
    events = watch("sagas-events")
    register_all(base)
    center, images = _own_images(stack)
    # The state the delivery case meets: an image catalogued, then gone from the bucket.
    bucket, name = images[0]["uri"].removeprefix("gs://").split("/", 1)
    storage.Client(project=stack.project_id).bucket(bucket).blob(name).delete()
    chaos.set(stack, duplicate_rate=0.3, reorder_window=3, seed=13, subscriptions=SAGA_FUNCTIONS)
    with ThreadPoolExecutor(len(FAILURES)) as pool:  # side by side: one test's time
        outcomes = list(pool.map(lambda c: _run_failure(base, c, center), FAILURES))
    runs = dict(zip(FAILURES, outcomes, strict=True))

    for case, run in runs.items():
        spec, saga = FAILURES[case], run["saga"]
        assert (saga["status"], saga["failed_step"], saga["failure"]) == (
            "COMPENSATED", case, spec["reason"],
        ), (case, saga)  # fmt: skip
        # Compensations one at a time, in the reverse order the steps were done.
        undone = [
            e["step"] for e in run["log"]
            if e["phase"] == "compensation" and e["status"] == "PROCESSED"
            and e["reason"] == "sent"
        ]  # fmt: skip
        assert undone == spec["undo"], (case, undone)
        steps = {s["name"]: s["status"] for s in saga["steps"]}
        if "sibling" in spec:  # the parallel branch that had finished is undone too
            assert steps[spec["sibling"]] == "COMPENSATED", (case, steps)
            assert steps["delivery"] == "SKIPPED"
        assert run["subscription"]["status"] == "CANCELLED", case
        invoices = [i["status"] for i in run["subscription"]["invoices"]]
        if case == "payment":
            assert run["service"] is None and "REFUNDED" not in invoices
        else:
            assert "REFUNDED" in invoices, (case, invoices)
            assert run["service"]["status"] == spec.get("service", "CANCELLED"), (
                case,
                run["service"],
            )
            expert = run["service"]["expert_code"]  # freed by the cancel (or the failure)
            if expert:
                view = requests.get(
                    f"{base}/data_services_queries_http/experts/{expert}", timeout=30
                )
                assert run["service"]["data_service_id"] not in view.json()["assignments"]
    # Each saga announced SagaCompensated once (a duplicate delivery republishes the same id).
    for case, run in runs.items():
        [ended] = _ended(events, run["subscription_id"])
        assert ended.type == COMPENSATED and ended.payload.failed_step == case  # type: ignore[attr-defined]
        assert ended.payload.undone == FAILURES[case]["undo"]  # type: ignore[attr-defined]
