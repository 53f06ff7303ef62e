"""Bad input is a 4xx with a reason, never a 5xx, and no error echoes what was sent."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import CLIENT_BODY, Api

NESTED = b'{"client": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "reason"),
    [
        (b"{" * 10, "application/json", 400, "malformed_json"),
        (NESTED[:60_000], "application/json", 400, "malformed_json"),
        (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "malformed_json"),
        (b'{"a": "' + b"x" * 70_000 + b'"}', "application/json", 413, "body_too_large"),
        (b"plan=PRO", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"[1, 2]", "application/json", 400, "schema_violation"),
        (b'{"client": 7, "plan": "PRO"}', "application/json", 400, "schema_violation"),
    ],
)
def test_bad_bodies_are_refused_with_their_reason(
    api: Api, raw: bytes, content_type: str, status: int, reason: str
) -> None:
    token = api.login("client-a")
    for path in ("/v1/subscriptions", "/suscripciones/suscripcion-comando"):
        answer = api.call(
            "POST", path, raw=raw, token=token, headers={"Content-Type": content_type}
        )
        assert (answer.status, answer.body["error"]["reason"]) == (status, reason), path


def test_bad_logins_are_4xx(api: Api) -> None:
    bodies: list[object] = [[], {"username": 3}, {"username": "a" * 500, "password": "x"}, {}]
    for body in bodies:
        answer = api.call("POST", "/v1/auth/login", body)
        assert answer.status == 400, body


def test_errors_never_echo_personal_data(api: Api) -> None:
    token = api.login("client-a")
    email = "not-an-email-but-personal@@"
    body = {**CLIENT_BODY, "client": {**CLIENT_BODY["client"], "email": email}}
    answer = api.call("POST", "/v1/subscriptions", body, token=token)
    assert answer.status == 400
    assert email.encode() not in answer.raw
    assert CLIENT_BODY["client"]["national_id"].encode() not in answer.raw


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/subscriptions/..", "/v1/images/__x__", "/"])
def test_unknown_paths_are_404(api: Api, path: str) -> None:
    assert api.call("GET", path, token=api.login("client-a")).status == 404


def test_a_wrong_method_is_405(api: Api) -> None:
    assert api.call("DELETE", "/v1/subscriptions").status == 405
