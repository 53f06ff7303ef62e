"""The operator's saga routes through the API, on a real saga engine (the sagas tests'
scripted world answers the saga's commands): the STUCK list, a saga with its log, the retry
as a command resource; and a client reading only the sagas of its own subscriptions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest

from functions import bootstrap
from functions.identity.messages import Role
from functions.sagas import wiring
from infra.samples.clients import SAMPLE_CLIENT
from shared.config import Settings
from shared.domain.clock import FixedClock
from tests.unit.api.conftest import CHEAP_PASSWORDS, Api, Clock
from tests.unit.api.test_openapi import conforms
from tests.unit.sagas.world import NOW, T0, World, saga


@dataclass
class Scene:
    api: Api
    world: World


@pytest.fixture
def scene() -> Iterator[Scene]:
    clock = FixedClock(T0)
    settings: dict[str, Any] = dict(CHEAP_PASSWORDS)
    base = bootstrap.in_memory_platform(Settings(**settings))
    platform = dataclasses.replace(base, clock=clock)
    bootstrap.use(platform)
    world = World(platform=platform, clock=clock, w=bootstrap.context(wiring.build))
    api = Api(platform=platform, clock=cast(Clock, clock))
    api.add_user("client-a", Role.CLIENT, "0001")  # the world's client
    api.add_user("client-b", Role.CLIENT, "0002")
    api.add_user("operator", Role.OPERATOR, "")
    yield Scene(api, world)
    bootstrap.use(None)


def _stuck(world: World, subscription_id: str = "sub-1") -> str:
    world.faults["AssignExpert"] = "rejected"
    world.faults["RefundPayment"] = "rejected"
    world.create_subscription(subscription_id)
    world.pay(subscription_id)
    world.run()
    for _ in range(4):
        world.tick(minutes=3)
        world.run()
    return str(saga(world, subscription_id)["saga_id"])


def _subscribed(api: Api, subscription_id: str, client_code: str = "0001") -> None:
    """The subscriptions context's record of a subscription of the world (which plays only
    its events): the api checks a client's ownership at subscriptions' query door."""
    from functions.subscriptions import wiring as subscriptions

    collection = bootstrap.context(subscriptions.build).collection
    client = {**SAMPLE_CLIENT, "code": client_code}
    plan = {"code": "PRO", "name": "Professional", "price_cents": 49900, "currency": "USD",
            "billing_period": "monthly", "provisions_data_service": True}  # fmt: skip
    document = {"subscription_id": subscription_id, "client": client, "plan": plan,
                "status": "ACTIVE", "created_at": NOW, "invoices": []}  # fmt: skip
    api.platform.store.run_in_transaction(lambda tx: tx.put(collection, subscription_id, document))


def _completed(world: World, subscription_id: str) -> str:
    world.create_subscription(subscription_id)
    world.pay(subscription_id)
    world.run()
    return str(saga(world, subscription_id)["saga_id"])


def _get(api: Api, path: str, token: str, **query: str) -> Any:
    answer = api.call("GET", path, token=token, query=query or None)
    return answer


def test_an_operator_lists_the_stuck_sagas_by_default_and_any_status_with_a_cursor(
    scene: Scene,
) -> None:
    api, world = scene.api, scene.world
    stuck = _stuck(world)
    world.faults.clear()
    done = {_completed(world, "sub-2"), _completed(world, "sub-3")}
    token = api.login("operator")
    listed = _get(api, "/v1/sagas", token)
    conforms("/v1/sagas", "GET", listed)
    assert [s["saga_id"] for s in listed.body["items"]] == [stuck]
    assert listed.body["items"][0]["status"] == "STUCK"
    first = _get(api, "/v1/sagas", token, status="COMPLETED", limit="1").body
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = _get(api, "/v1/sagas", token, status="COMPLETED", cursor=first["next_cursor"]).body
    assert {s["saga_id"] for s in first["items"] + rest["items"]} == done
    by_subscription = _get(api, "/v1/sagas", token, subscription_id="sub-2").body
    assert [s["subscription_id"] for s in by_subscription["items"]] == ["sub-2"]
    for query, reason in (
        # The status is the query model's enum (the sagas door answered invalid_status).
        ({"status": "LOST"}, "schema_violation"),
        ({"status": "STUCK", "subscription_id": "sub-2"}, "conflicting_parameters"),
        ({"owner": "x"}, "unknown_parameter"),
    ):
        refused = _get(api, "/v1/sagas", token, **query)
        assert (refused.status, refused.body["error"]["reason"]) == (400, reason), query


def test_a_saga_comes_with_its_log_paged(scene: Scene) -> None:
    api, world = scene.api, scene.world
    saga_id = _completed(world, "sub-1")
    token = api.login("operator")
    found = _get(api, f"/v1/sagas/{saga_id}", token)
    conforms("/v1/sagas/{saga_id}", "GET", found)
    assert (found.body["status"], found.body["definition"]) == ("COMPLETED", "PRO")
    log = found.body["log"]["items"]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1)) and len(log) > 5
    assert {e["status"] for e in log} <= {"RECEIVED", "PROCESSED", "FAILED"}
    page = _get(api, f"/v1/sagas/{saga_id}", token, log_limit="5").body["log"]
    assert [e["seq"] for e in page["items"]] == [1, 2, 3, 4, 5]
    more = _get(api, f"/v1/sagas/{saga_id}", token, log_cursor=page["next_cursor"]).body
    assert more["log"]["items"][0]["seq"] == 6
    missing = _get(api, "/v1/sagas/nope", token)
    assert (missing.status, missing.body["error"]["reason"]) == (404, "saga_not_found")


def test_the_operator_retries_a_stuck_saga_and_follows_its_command(scene: Scene) -> None:
    api, world = scene.api, scene.world
    saga_id = _stuck(world)
    token = api.login("operator")
    world.faults.pop("RefundPayment")
    accepted = api.call("POST", f"/v1/sagas/{saga_id}/retry", token=token)
    conforms("/v1/sagas/{saga_id}/retry", "POST", accepted)
    assert accepted.status == 202 and accepted.body["saga_status"] == "COMPENSATING"
    command_url = accepted.body["links"]["command"]
    assert accepted.headers["Location"] == command_url
    status = api.call("GET", command_url, token=token)
    conforms("/v1/commands/{command_id}", "GET", status)
    assert (status.body["status"], status.body["command_type"]) == (
        "applied",
        "co.saludtech.sagas.saga.retry.v1",
    )
    timeline = api.call("GET", f"{command_url}/timeline", token=token)
    conforms("/v1/commands/{command_id}/timeline", "GET", timeline)
    assert timeline.body["command"]["status"] == "applied" and timeline.body["saga"]["steps"]
    world._answer_sent()
    world.run()
    assert saga(world, "sub-1")["status"] == "COMPENSATED"
    again = api.call("POST", f"/v1/sagas/{saga_id}/retry", token=token)
    assert (again.status, again.body["error"]["reason"]) == (409, "saga_not_stuck")
    assert api.call("POST", "/v1/sagas/nope/retry", token=token).status == 404
    # Another operator's command resource is readable by operators; a client's is not.
    client = api.login("client-a")
    assert api.call("GET", command_url, token=client).status == 404


def test_a_client_reads_only_the_sagas_of_its_own_subscriptions(scene: Scene) -> None:
    api, world = scene.api, scene.world
    saga_id = _stuck(world)
    _subscribed(api, "sub-1")
    mine, theirs = api.login("client-a"), api.login("client-b")
    listed = _get(api, "/v1/sagas", mine, subscription_id="sub-1").body
    assert [s["saga_id"] for s in listed["items"]] == [saga_id]
    assert _get(api, f"/v1/sagas/{saga_id}", mine).body["log"]["items"]
    # The STUCK list is an operator's; a client names one of its subscriptions.
    for query in ({}, {"status": "STUCK"}):
        refused = _get(api, "/v1/sagas", mine, **query)
        assert (refused.status, refused.body["error"]["reason"]) == (400, "missing_parameter")
    # Another client's saga and subscription are answered as if they did not exist.
    other = _get(api, f"/v1/sagas/{saga_id}", theirs)
    nothing = _get(api, "/v1/sagas/nope", theirs)
    assert other.status == nothing.status == 404 and other.body == nothing.body
    assert _get(api, "/v1/sagas", theirs, subscription_id="sub-1").status == 404
    # Nor may a client retry one.
    retry = api.call("POST", f"/v1/sagas/{saga_id}/retry", token=mine)
    assert (retry.status, retry.body["error"]["reason"]) == (403, "forbidden")
    assert saga(world, "sub-1")["status"] == "STUCK"


def test_forged_cursors_and_limits_are_refused_not_failed(scene: Scene) -> None:
    api, world = scene.api, scene.world
    saga_id = _completed(world, "sub-1")
    token = api.login("operator")
    for path, query in (
        ("/v1/sagas", {"cursor": "not-a-cursor"}),
        ("/v1/sagas", {"limit": "many"}),
        (f"/v1/sagas/{saga_id}", {"log_cursor": "not-a-cursor"}),
        (f"/v1/sagas/{saga_id}", {"log_limit": "0"}),
    ):
        answer = _get(api, path, token, **query)
        assert 400 <= answer.status < 500, (path, query, answer.body)
