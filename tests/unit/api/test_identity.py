"""The api asks the identity context at its doors: one /tokens/verify per authenticated
request, the session and user routes answered as identity answers them (minus what only
the api needs), and a 503 when identity does not answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from functions import bootstrap
from functions.identity.messages import COMMANDS_DOOR, QUERIES_DOOR, Role
from shared.ports.doors import DoorAnswer, Doors, DoorUnavailable
from tests.unit.api.conftest import PASSWORD, Api, make_api
from tests.unit.identity.test_google_id_tokens import (
    AUDIENCE,
    CertificateServer,
    certificates,  # noqa: F401 - the fixture
    google_token,
)


@dataclasses.dataclass
class Recorded:
    """Doors that record each call and pass it on (or, when `down`, fail like a door that
    does not answer)."""

    inner: Doors
    calls: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    down: set[str] = dataclasses.field(default_factory=set)

    def call(
        self, target: str, method: str, path: str, *, params: Mapping[str, str] | None = None,
        body: Any = None, headers: Mapping[str, str] | None = None,
    ) -> DoorAnswer:  # fmt: skip
        self.calls.append((target, method, path))
        if target in self.down:
            raise DoorUnavailable(f"{target} is down")
        return self.inner.call(target, method, path, params=params, body=body, headers=headers)


@pytest.fixture
def doors(api: Api) -> Iterator[Recorded]:
    recorded = Recorded(api.platform.doors)
    api.platform = dataclasses.replace(api.platform, doors=recorded)
    bootstrap.use(api.platform)
    yield recorded


def test_one_verify_call_per_authenticated_request(api: Api, doors: Recorded) -> None:
    token = api.login("operator")
    doors.calls.clear()
    assert api.call("GET", "/v1/audit", token=token).status == 200
    assert doors.calls == [(QUERIES_DOOR, "POST", "/tokens/verify")]
    doors.calls.clear()
    me = api.call("GET", "/v1/me", token=token)
    assert me.status == 200
    user_id = api.users["operator"]
    assert doors.calls == [
        (QUERIES_DOOR, "POST", "/tokens/verify"),
        (QUERIES_DOOR, "GET", f"/users/{user_id}"),
    ]


def test_the_session_routes_answer_what_they_always_answered(api: Api, doors: Recorded) -> None:
    answer = api.call("POST", "/v1/auth/login", {"username": "client-a", "password": PASSWORD})
    assert answer.status == 200
    # ...and, added (optional), the device token of the login throttle (security finding 3).
    assert set(answer.body) == {"token_type", "access_token", "expires_in", "refresh_token",
                                "role", "device_token"}  # fmt: skip
    assert doors.calls == [(COMMANDS_DOOR, "POST", "/sessions")]
    me = api.call("GET", "/v1/me", token=answer.body["access_token"]).body
    assert set(me) == {"user_id", "username", "role", "scope", "created_at", "email",
                       "national_id"}  # fmt: skip


def test_identity_refusals_are_answered_as_they_came(api: Api, doors: Recorded) -> None:
    wrong = api.call("POST", "/v1/auth/login", {"username": "client-a", "password": "nope"})
    assert (wrong.status, wrong.body["error"]["reason"]) == (401, "invalid_credentials")
    assert "WWW-Authenticate" not in wrong.headers
    operator = api.login("operator")
    weak = {"username": "new-one", "password": "short", "role": "client", "scope": "0009",
            "email": "n@example.com"}  # fmt: skip
    refused = api.call("POST", "/v1/users", weak, token=operator)
    assert refused.status == 400
    assert refused.body["error"] == {
        "reason": "weak_password", "detail": "12 to 256 characters", "field": "password"
    }  # fmt: skip
    taken = api.call("POST", "/v1/users", {**weak, "password": PASSWORD, "username": "client-a"},
                     token=operator)  # fmt: skip
    assert (taken.status, taken.body["error"]["reason"]) == (400, "account_exists")
    created = api.call("POST", "/v1/users", {**weak, "password": PASSWORD}, token=operator)
    assert created.status == 201 and created.body["role"] == "client"
    assert set(created.body) == {"user_id", "role"}


def test_identity_down_is_a_503(api: Api, doors: Recorded) -> None:
    token = api.login("client-a")
    doors.down.add(QUERIES_DOOR)
    answer = api.call("GET", "/v1/me", token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (503, "unavailable")
    doors.down = {COMMANDS_DOOR}
    login = api.call("POST", "/v1/auth/login", {"username": "client-a", "password": PASSWORD})
    assert login.status == 503


def test_the_api_exchanges_a_linked_google_identity_for_its_tokens(
    certificates: CertificateServer,  # noqa: F811 - the fixture
) -> None:
    api = next(make_api(google_id_audience=AUDIENCE, google_id_certs_url=certificates.url))
    api.add_user("linked", Role.CLIENT, "0042", google_subject="google-user-1")
    api.clock.now = datetime.now(UTC)
    answer = api.call("POST", "/v1/auth/google", {"id_token": google_token()})
    assert answer.status == 200, answer.body
    assert "user_id" not in answer.body
    me = api.call("GET", "/v1/me", token=answer.body["access_token"]).body
    assert (me["username"], me["scope"]) == ("linked", "0042")
    stranger = api.call("POST", "/v1/auth/google", {"id_token": google_token(sub="nobody")})
    assert (stranger.status, stranger.body["error"]["reason"]) == (401, "unknown_identity")
    bootstrap.use(None)
