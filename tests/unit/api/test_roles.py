"""What each role may see: another role's routes are 403; another user's data is 404,
answered exactly like data that does not exist."""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import Rule

from functions import bootstrap
from functions.api.app import app
from functions.api.routing import POLICIES
from functions.ingestion import wiring as ingestion_wiring
from tests.unit.api.conftest import CLIENT_BODY, Api

USER_OF_ROLE = {"center": "center-a", "client": "client-a", "expert": "expert-a",
                "operator": "operator"}  # fmt: skip
PROTECTED = [r for r in app.url_map.iter_rules() if POLICIES[str(r.endpoint)].roles]


def _concrete(path: str) -> str:
    # Any path parameter (`<id:data_service_id>`, `<id:expert_code>`): a value of its own.
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: f"{m.group(1)[0]}-1", path)


@pytest.mark.parametrize("rule", PROTECTED, ids=lambda r: str(r.endpoint))
def test_every_protected_route_refuses_the_roles_it_does_not_serve(api: Api, rule: Rule) -> None:
    policy = POLICIES[str(rule.endpoint)]
    assert policy.roles is not None
    for role, username in USER_OF_ROLE.items():
        if role in {r.value for r in policy.roles}:
            continue
        token = api.login(username)
        answer = api.call(policy.method, _concrete(rule.rule), {}, token=token)
        assert (answer.status, answer.body["error"]["reason"]) == (403, "forbidden"), role


def test_a_client_never_sees_another_clients_subscription(api: Api) -> None:
    a, b = api.login("client-a"), api.login("client-b")
    accepted = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=a).body
    for path in (f"/v1/subscriptions/{accepted['subscription_id']}",
                 f"/v1/commands/{accepted['command_id']}",
                 f"/v1/commands/{accepted['command_id']}/timeline"):  # fmt: skip
        theirs = api.call("GET", path, token=b)
        nothing = api.call("GET", path.replace(accepted["subscription_id"], "nope").replace(
            accepted["command_id"], "nope"), token=b)  # fmt: skip
        assert theirs.status == nothing.status == 404, path
        assert theirs.body == nothing.body
    assert api.call("GET", f"/v1/commands/{accepted['command_id']}", token=a).status == 200
    # Nor acts on it.
    plan = api.call(
        "POST", f"/v1/subscriptions/{accepted['subscription_id']}/plan", {"plan": "BASIC"}, token=b
    )
    assert plan.status == 404


def test_a_client_cannot_subscribe_another_client(api: Api) -> None:
    token = api.login("client-b")  # scope 0002; the body names 0001
    answer = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (403, "not_your_client_code")


def _catalogue(api: Api, image_id: str, center: str) -> None:
    w = bootstrap.context(ingestion_wiring.build)
    document = {"image_id": image_id, "data_source": center, "modality": "CT",
                "ingested_at": "2026-03-01T00:00:00.000Z"}  # fmt: skip
    api.platform.store.run_in_transaction(
        lambda tx: tx.put(w.collections.images, image_id, document)
    )


def test_a_center_sees_only_its_own_catalogue_entries(api: Api) -> None:
    _catalogue(api, "img-a", "hospital-1")
    _catalogue(api, "img-b", "hospital-2")
    token = api.login("center-a")
    listed = api.call("GET", "/v1/images", token=token).body
    assert [i["image_id"] for i in listed["items"]] == ["img-a"]
    assert api.call("GET", "/v1/images/img-a", token=token).status == 200
    assert api.call("GET", "/v1/images/img-b", token=token).status == 404
    # The center filter is not the caller's to set.
    other = api.call("GET", "/v1/images", token=token, query={"center": "hospital-2"})
    assert (other.status, other.body["error"]["reason"]) == (400, "unknown_parameter")
