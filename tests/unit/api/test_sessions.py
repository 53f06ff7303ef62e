"""Login and refresh tokens: wrong passwords, rotation, revocation, reuse, limits."""

from __future__ import annotations

from typing import Any

from tests.unit.api.conftest import PASSWORD, Api, make_api


def _login(api: Api, username: str, password: str, address: str = "198.51.100.1") -> Any:
    return api.call(
        "POST", "/v1/auth/login", {"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )  # fmt: skip


def test_wrong_password_and_unknown_user_answer_alike(api: Api) -> None:
    wrong = _login(api, "client-a", "not the password at all")
    unknown = _login(api, "nobody-here", PASSWORD)
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body


def test_a_refresh_token_is_spent_once_and_a_revoked_one_is_refused(api: Api) -> None:
    first = _login(api, "client-a", PASSWORD).body
    second = api.call("POST", "/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status == 200
    assert api.call("GET", "/v1/me", token=second.body["access_token"]).status == 200
    again = api.call("POST", "/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert again.status == 401
    token = second.body["refresh_token"]
    assert api.call("POST", "/v1/auth/logout", {"refresh_token": token}).status == 204
    assert api.call("POST", "/v1/auth/refresh", {"refresh_token": token}).status == 401


def test_an_expired_refresh_token_is_refused(api: Api) -> None:
    token = _login(api, "client-a", PASSWORD).body["refresh_token"]
    api.clock.advance(api.platform.settings.api_refresh_token_seconds + 1)
    assert api.call("POST", "/v1/auth/refresh", {"refresh_token": token}).status == 401


def test_refresh_tokens_are_stored_hashed(api: Api) -> None:
    token = _login(api, "client-a", PASSWORD).body["refresh_token"]
    stored = str(api.platform.store._docs)
    assert token not in stored


def test_failed_logins_per_account_from_any_address_slow_new_addresses_without_a_lockout() -> None:
    api = next(make_api(identity_login_failures_per_account=3))
    answers = [_login(api, "client-a", "wrong password!!", f"192.0.2.{n}") for n in range(4)]
    assert [a.status for a in answers] == [401, 401, 401, 429]
    assert answers[-1].body["error"]["reason"] == "login_throttled"
    retry_after = int(answers[-1].headers["Retry-After"])
    assert retry_after > 0
    # Even the right password waits for the backoff: that is what slows guessing...
    assert _login(api, "client-a", PASSWORD, "192.0.2.99").status == 429
    # ...and only for the backoff (1 s here), not a window: nobody is locked out.
    api.clock.advance(retry_after)
    assert _login(api, "client-a", PASSWORD, "192.0.2.99").status == 200


def test_login_attempts_are_limited_per_address_across_accounts() -> None:
    api = next(make_api(api_login_attempts_per_address=2))
    statuses = [_login(api, f"user-{n}", PASSWORD, "192.0.2.5").status for n in range(3)]
    assert statuses == [401, 401, 429]
    assert _login(api, "client-a", PASSWORD, "192.0.2.6").status == 200
