"""Security finding 3: nobody can lock a user out. Failed logins are throttled by identity
per account and address (or known device), with a backoff that grows and ends; the api
passes identity's 429 and Retry-After on, and refresh tokens have a bucket of their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from functions.identity.adapters.argon2_passwords import Argon2Passwords
from functions.identity.throttle import COLLECTIONS
from tests.unit.api.conftest import PASSWORD, Answer, Api, make_api

WRONG = "not the password at all"
HOME, NEW = "203.0.113.10", "203.0.113.99"


def _login(
    api: Api, address: str, password: str = WRONG, device_token: str | None = None
) -> Answer:
    body: dict[str, Any] = {"username": "client-a", "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return api.call("POST", "/v1/auth/login", body, headers={"X-Forwarded-For": address})


def _refresh(api: Api, token: str, address: str) -> str:
    answer = api.call(
        "POST", "/v1/auth/refresh", {"refresh_token": token}, headers={"X-Forwarded-For": address}
    )
    assert answer.status == 200, answer.body
    fresh: str = answer.body["refresh_token"]
    return fresh


@pytest.fixture
def attacked() -> Iterator[Api]:
    # Failures remembered for a week, so that all 100 fall in one window.
    yield from make_api(identity_login_window_seconds=7 * 24 * 3600)


def test_a_hundred_failures_from_other_addresses_never_lock_the_owner_out(attacked: Api) -> None:
    api = attacked
    owner = _login(api, HOME, PASSWORD).body
    device, refresh = owner["device_token"], owner["refresh_token"]
    assert device
    failures = 0
    while failures < 100:
        address = f"192.0.2.{failures // 4}"  # 4 guesses an address: under its own threshold
        answer = _login(api, address)
        if answer.status == 429:  # the account is past its threshold: the attacker waits
            assert answer.body["error"]["reason"] == "login_throttled"
            api.clock.advance(int(answer.headers["Retry-After"]))
            continue
        assert answer.status == 401
        failures += 1
        if failures % 10 == 0:
            # Throughout, even from the attacker's address.
            refresh = _refresh(api, refresh, address)
            # The owner's device logs in at once, wherever it is.
            assert _login(api, address, PASSWORD, device).status == 200
    known = _login(api, NEW, PASSWORD, device)
    assert known.status == 200
    assert known.body["device_token"] == device
    # A new address without the device is a stranger: slowed by the backoff, never locked.
    stranger = _login(api, NEW, PASSWORD)
    assert stranger.status == 429
    retry_after = int(stranger.headers["Retry-After"])
    assert 0 < retry_after <= api.platform.settings.identity_login_backoff_cap_seconds
    api.clock.advance(retry_after)
    assert _login(api, NEW, PASSWORD).status == 200
    _refresh(api, refresh, NEW)


def test_a_refresh_token_is_not_refused_when_its_address_used_up_its_logins() -> None:
    api = next(make_api(api_login_attempts_per_address=3))
    refresh = _login(api, HOME, PASSWORD).body["refresh_token"]
    statuses = [_login(api, HOME).status for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert _login(api, HOME).body["error"]["reason"] == "rate_limited"  # the api's own
    for _ in range(5):
        refresh = _refresh(api, refresh, HOME)  # a bucket of its own
    token = {"refresh_token": refresh}
    headers = {"X-Forwarded-For": HOME}
    assert api.call("POST", "/v1/auth/logout", token, headers=headers).status == 204


def test_the_attackers_address_waits_longer_each_time_its_password_unchecked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    verify = Argon2Passwords.verify

    def counting(self: Argon2Passwords, stored_hash: str | None, password: str) -> bool:
        checked.append(password)
        return verify(self, stored_hash, password)

    monkeypatch.setattr(Argon2Passwords, "verify", counting)
    attacker = "192.0.2.66"
    assert [_login(api, attacker).status for _ in range(5)] == [401] * 5
    waits = []
    for _ in range(5):
        refused = _login(api, attacker, PASSWORD)  # even the right password: not checked
        assert (refused.status, refused.body["error"]["reason"]) == (429, "login_throttled")
        waits.append(int(refused.headers["Retry-After"]))
        api.clock.advance(waits[-1])
        assert _login(api, attacker).status == 401  # the clock moved: it may try again
    assert waits == [1, 2, 4, 8, 16]
    assert checked == [WRONG] * 10
    assert _login(api, HOME, PASSWORD).status == 200  # the owner elsewhere: not slowed


def test_the_throttle_documents_hold_no_username_or_address(attacked: Api) -> None:
    device = _login(attacked, HOME, PASSWORD).body["device_token"]
    for n in range(30):
        _login(attacked, f"192.0.2.{n}")
        _login(attacked, "192.0.2.200", device_token=device)
    stored = [
        data
        for (collection, _), (_, data) in attacked.platform.store._docs.items()
        if collection in COLLECTIONS
    ]
    assert stored
    text = str(stored)
    assert "client-a" not in text and "192.0.2." not in text and HOME not in text
    assert device not in text
