"""Commands go through the subscriptions context's own door: its validation, its command
log, its topic. The original Spanish route sends the very same command."""

from __future__ import annotations

from functions.subscriptions.messages import CreateSubscription
from tests.unit.api.conftest import CLIENT_BODY, Api

ORIGINAL = {
    "cliente": {
        "codigo": "0001", "nombre": {"nombres": "Pablo", "apellidos": "Pérez Prieto"},
        "usuario": "pperez", "rut": {"numero": "12.345.678-5"}, "cedula": {"numero": 123457890},
        "email": "pperez@example.com",
    },
    "plan": {"codigo": "pro", "nombre": "PRO"},
    "facturas": [],
}  # fmt: skip


def _published(api: Api) -> list[dict[str, object]]:
    return [
        # The logical payload: on the topic its personal fields travel sealed.
        envelope.payload.model_dump(mode="json")
        for envelope in api.platform.publisher.messages("subscriptions-commands")
    ]


def test_create_answers_202_with_a_command_to_poll_and_publishes_it(api: Api) -> None:
    token = api.login("client-a")
    answer = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token)
    assert answer.status == 202
    assert answer.body["command_type"] == CreateSubscription.TYPE
    assert answer.headers["Location"] == f"/v1/commands/{answer.body['command_id']}"
    status = api.call("GET", answer.headers["Location"], token=token)
    assert status.body["status"] == "pending"
    assert [p["plan"] for p in _published(api)] == ["PRO"]


def test_the_original_route_sends_the_same_command(api: Api) -> None:
    token = api.login("client-a")
    original = api.call("POST", "/suscripciones/suscripcion-comando", ORIGINAL, token=token)
    v1 = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token)
    assert original.status == v1.status == 202
    first, second = _published(api)
    del first["subscription_id"], second["subscription_id"]
    assert first == second


def test_the_contexts_own_validation_answers(api: Api) -> None:
    token = api.login("client-a")
    body = {**CLIENT_BODY, "plan": "GOLD"}
    answer = api.call("POST", "/v1/subscriptions", body, token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (400, "unknown_plan")
    bad_original = {**ORIGINAL, "plan": {"codigo": "pro", "precio": 3}}
    answer = api.call("POST", "/suscripciones/suscripcion-comando", bad_original, token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (400, "schema_violation")
    assert _published(api) == []


def test_idempotency_keys_belong_to_their_user(api: Api) -> None:
    token = api.login("client-a")
    headers = {"Idempotency-Key": "order-1"}
    one = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token, headers=headers)
    two = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token, headers=headers)
    assert one.body["command_id"] == two.body["command_id"]
    other = {**CLIENT_BODY, "client": {**CLIENT_BODY["client"], "code": "0002"}}
    theirs = api.call(
        "POST", "/v1/subscriptions", other, token=api.login("client-b"), headers=headers
    )
    assert theirs.status == 202
    assert theirs.body["command_id"] != one.body["command_id"]
    reused = api.call("POST", "/v1/subscriptions", {**CLIENT_BODY, "plan": "BASIC"},
                      token=token, headers=headers)  # fmt: skip
    assert (reused.status, reused.body["error"]["reason"]) == (422, "idempotency_key_reused")


def test_the_timeline_answers_304_while_nothing_changes(api: Api) -> None:
    token = api.login("client-a")
    accepted = api.call("POST", "/v1/subscriptions", CLIENT_BODY, token=token).body
    first = api.call("GET", accepted["links"]["timeline"], token=token)
    assert first.status == 200
    assert first.body["command"]["status"] == "pending"
    tag = first.headers["ETag"]
    same = api.call(
        "GET", accepted["links"]["timeline"], token=token, headers={"If-None-Match": tag}
    )
    assert (same.status, same.raw) == (304, b"")
    # The context processes the command: the timeline changes, and so does its tag.
    from functions.subscriptions.entrypoints import _wiring as subscriptions

    command = api.platform.publisher.messages("subscriptions-commands")[0]
    subscriptions().processor.process(command)
    changed = api.call(
        "GET", accepted["links"]["timeline"], token=token, headers={"If-None-Match": tag}
    )
    assert changed.status == 200
    assert changed.body["command"]["status"] == "applied"
    assert changed.body["subscription"]["subscription_id"] == accepted["subscription_id"]
    assert changed.headers["ETag"] != tag
