"""A buyer says what data it wants through /v1, before paying: the request goes through the
data services context's own command door (its validation against the subscription's plan,
its command log, its topic); what became of it is read at that context's query door."""

from __future__ import annotations

from typing import Any

from functions import bootstrap
from functions.data_services import wiring as data_services
from functions.data_services.messages import NAMES, SubmitDataRequest
from functions.subscriptions.messages import SubscriptionCreated
from tests.support.delivery import deliver
from tests.unit.api.conftest import CLIENT_BODY, Api
from tests.unit.data_services.factories import image_event
from tests.unit.data_services.flow import send

REQUEST: dict[str, Any] = {
    "dataset": {
        "code": "chest-ct",
        "name": "Chest CT",
        "criteria": {"modality": "ct", "max_images": 500, "max_per_patient": 20,
                     "split": {"train": 70, "validation": 15, "test": 15}},
    },
    "cloud": {"code": "links", "type": "links"},
    "speciality": "RADIOLOGY",
}  # fmt: skip


def _subscribe(api: Api, token: str, plan: str = "PRO") -> str:
    """A subscription the api sent, processed by subscriptions and projected by data
    services, as Pub/Sub would deliver it; and a catalogue of 12 CT patients to quote."""
    accepted = api.call("POST", "/v1/subscriptions", {**CLIENT_BODY, "plan": plan}, token=token)
    subscription_id: str = accepted.body["subscription_id"]
    for envelope in api.platform.publisher.messages("subscriptions-commands"):
        if envelope.subject == subscription_id:
            deliver("subscriptions-commands", envelope)
    for envelope in api.platform.publisher.messages("subscriptions-events"):
        if (
            isinstance(envelope.payload, SubscriptionCreated)
            and envelope.subject == subscription_id
        ):
            send(envelope.payload)
    for index in range(36):
        send(image_event(index))
    return subscription_id


def _published(api: Api) -> list[Any]:
    return [e.payload for e in api.platform.publisher.messages(NAMES.commands_topic)]


def test_a_data_request_is_sent_to_data_services_and_followed_there(api: Api) -> None:
    token = api.login("client-a")
    subscription_id = _subscribe(api, token)
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", REQUEST, token=token
    )
    assert answer.status == 202, answer.body
    assert answer.body["command_type"] == SubmitDataRequest.TYPE
    assert answer.body["subscription_id"] == subscription_id
    quote = answer.body["quote"]
    assert (quote["plan"], quote["images"], quote["patients"]) == ("PRO", 35, 10)
    assert quote["price"]["code"] == "PRO"
    [sent] = _published(api)
    assert isinstance(sent, SubmitDataRequest)
    assert sent.dataset.criteria.max_per_patient == 20
    status = api.call("GET", answer.headers["Location"], token=token)
    assert (status.status, status.body["status"]) == (200, "pending")
    # Only its sender reads the command.
    other = api.call("GET", answer.headers["Location"], token=api.login("client-b"))
    assert other.status == 404


def test_a_request_is_checked_against_the_plan_at_once(api: Api) -> None:
    token = api.login("client-a")
    subscription_id = _subscribe(api, token)
    too_large = {**REQUEST, "dataset": {**REQUEST["dataset"], "criteria": {"max_images": 10**6}}}
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", too_large, token=token
    )
    assert answer.status in (400, 422)
    assert answer.body["error"]["reason"] == "dataset_exceeds_plan"
    bad_split = {**REQUEST, "dataset": {**REQUEST["dataset"],
                                         "criteria": {"split": {"train": 90, "test": 20}}}}  # fmt: skip
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", bad_split, token=token
    )
    assert answer.body["error"]["reason"] == "invalid_split"
    basic = _subscribe(api, token, plan="BASIC")
    answer = api.call("POST", f"/v1/subscriptions/{basic}/data-request", REQUEST, token=token)
    assert answer.body["error"]["reason"] == "unknown_plan"
    rare = {**REQUEST, "dataset": {**REQUEST["dataset"], "criteria": {"modality": "MR"}}}
    answer = api.call("POST", f"/v1/subscriptions/{subscription_id}/data-request", rare,
                      token=token)  # fmt: skip
    assert (answer.status, answer.body["error"]["reason"]) == (422, "dataset_too_small")
    assert _published(api) == []


def test_nobody_orders_for_another_clients_subscription(api: Api) -> None:
    subscription_id = _subscribe(api, api.login("client-a"))
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", REQUEST,
        token=api.login("client-b"),
    )  # fmt: skip
    assert (answer.status, answer.body["error"]["reason"]) == (404, "subscription_not_found")
    expert = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", REQUEST,
        token=api.login("expert-a"),
    )  # fmt: skip
    assert expert.status == 403
    assert _published(api) == []


def test_a_request_after_the_data_service_exists_is_refused(api: Api) -> None:
    token = api.login("client-a")
    subscription_id = _subscribe(api, token)
    services = bootstrap.context(data_services.build).collections.services
    started = {"subscription_id": subscription_id, "status": "STARTED"}
    api.platform.store.run_in_transaction(lambda tx: tx.put(services, "ds-1", started))
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", REQUEST, token=token
    )
    assert (answer.status, answer.body["error"]["reason"]) == (409, "data_service_exists")


def test_a_request_sent_before_data_services_knows_the_subscription_is_not_a_404(
    api: Api, monkeypatch: Any
) -> None:
    """Subscriptions answered "applied" and shows the subscription; data services has not
    had its SubscriptionCreated yet. The buyer is told to retry shortly, not that the
    subscription they just read does not exist, and nothing is sent."""
    import functions.api.routes_subscriptions as routes

    monkeypatch.setattr(routes, "NOT_YET_KNOWN_SECONDS", 0.3)
    token = api.login("client-a")
    accepted = api.call("POST", "/v1/subscriptions", {**CLIENT_BODY, "plan": "PRO"}, token=token)
    subscription_id = accepted.body["subscription_id"]
    for envelope in api.platform.publisher.messages("subscriptions-commands"):
        if envelope.subject == subscription_id:
            deliver("subscriptions-commands", envelope)  # its event is not delivered
    for index in range(36):
        send(image_event(index))
    assert api.call("GET", f"/v1/subscriptions/{subscription_id}", token=token).status == 200
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", REQUEST, token=token
    )
    assert (answer.status, answer.body["error"]["reason"]) == (409, "subscription_not_ready")
    assert answer.headers["Retry-After"] == "2"
    assert _published(api) == []
    # Once data services has it, the same request is accepted.
    for envelope in api.platform.publisher.messages("subscriptions-events"):
        if isinstance(envelope.payload, SubscriptionCreated):
            send(envelope.payload)
    answer = api.call(
        "POST", f"/v1/subscriptions/{subscription_id}/data-request", REQUEST, token=token
    )
    assert answer.status == 202, answer.body
