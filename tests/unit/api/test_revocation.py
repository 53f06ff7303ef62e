"""Access tokens revoked before their 10 minutes: a logout, a password change and an
operator disabling the account each stop the account's live tokens at the next request."""

from __future__ import annotations

from typing import Any

import jwt

from tests.unit.api.conftest import PASSWORD, Api
from tests.unit.api.test_openapi import conforms

NEW_PASSWORD = "another long passphrase"


def _login(api: Api, username: str, password: str = PASSWORD) -> Any:
    return api.call("POST", "/v1/auth/login", {"username": username, "password": password})


def _me(api: Api, token: str) -> int:
    return api.call("GET", "/v1/me", token=token).status


def _refused(api: Api, token: str) -> None:
    answer = api.call("GET", "/v1/me", token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (401, "invalid_token")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_logout_revokes_the_live_access_tokens_at_once(api: Api) -> None:
    tokens = _login(api, "client-a").body
    other_device = _login(api, "client-a").body
    assert _me(api, tokens["access_token"]) == 200
    api.clock.advance(30)  # well inside the access token's lifetime
    logout = api.call("POST", "/v1/auth/logout", {"refresh_token": tokens["refresh_token"]})
    assert logout.status == 204
    _refused(api, tokens["access_token"])
    _refused(api, other_device["access_token"])
    # The other device refreshes (its refresh token stands) and goes on.
    refreshed = api.call(
        "POST", "/v1/auth/refresh", {"refresh_token": other_device["refresh_token"]}
    )
    assert refreshed.status == 200 and _me(api, refreshed.body["access_token"]) == 200
    # A new login works; another user's tokens were never touched.
    assert _me(api, _login(api, "client-a").body["access_token"]) == 200
    assert _me(api, api.login("client-b")) == 200


def test_a_logout_with_an_unknown_refresh_token_revokes_nothing(api: Api) -> None:
    token = api.login("client-a")
    assert api.call("POST", "/v1/auth/logout", {"refresh_token": "not-a-token"}).status == 204
    assert _me(api, token) == 200


def test_a_password_change_revokes_every_earlier_token(api: Api) -> None:
    before = _login(api, "expert-a").body
    elsewhere = _login(api, "expert-a").body
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = api.call("POST", "/v1/me/password", body, token=before["access_token"])
    conforms("/v1/me/password", "POST", changed)
    assert changed.status == 200
    for earlier in (before, elsewhere):
        _refused(api, earlier["access_token"])
        refresh = api.call("POST", "/v1/auth/refresh", {"refresh_token": earlier["refresh_token"]})
        assert refresh.status == 401
    assert _me(api, changed.body["access_token"]) == 200
    renewed = api.call("POST", "/v1/auth/refresh", {"refresh_token": changed.body["refresh_token"]})
    assert renewed.status == 200
    assert _login(api, "expert-a").status == 401
    assert _login(api, "expert-a", NEW_PASSWORD).status == 200


def test_a_password_change_needs_the_current_password(api: Api) -> None:
    token = api.login("expert-a")
    wrong = {"current_password": "not the password", "new_password": NEW_PASSWORD}
    answer = api.call("POST", "/v1/me/password", wrong, token=token)
    conforms("/v1/me/password", "POST", answer)
    assert (answer.status, answer.body["error"]["reason"]) == (403, "wrong_password")
    weak = {"current_password": PASSWORD, "new_password": "short"}
    assert api.call("POST", "/v1/me/password", weak, token=token).status == 400
    assert _me(api, token) == 200  # nothing was revoked
    assert _login(api, "expert-a").status == 200


def test_an_operator_disables_and_enables_an_account(api: Api) -> None:
    victim = _login(api, "center-a").body
    operator = api.login("operator")
    user_id = api.users["center-a"]
    disabled = api.call("POST", f"/v1/users/{user_id}/disable", token=operator)
    conforms("/v1/users/{user_id}/disable", "POST", disabled)
    assert disabled.body == {"user_id": user_id, "disabled": True}
    _refused(api, victim["access_token"])
    assert (
        api.call("POST", "/v1/auth/refresh", {"refresh_token": victim["refresh_token"]}).status
        == 401
    )
    assert _login(api, "center-a").status == 401  # answered like a wrong password
    enabled = api.call("POST", f"/v1/users/{user_id}/enable", token=operator)
    assert enabled.body == {"user_id": user_id, "disabled": False}
    _refused(api, victim["access_token"])  # what was revoked stays revoked
    assert _me(api, _login(api, "center-a").body["access_token"]) == 200


def test_disabling_refuses_unknown_accounts_and_oneself(api: Api) -> None:
    operator = api.login("operator")
    unknown = api.call("POST", "/v1/users/nobody/disable", token=operator)
    assert (unknown.status, unknown.body["error"]["reason"]) == (404, "user_not_found")
    itself = api.call("POST", f"/v1/users/{api.users['operator']}/disable", token=operator)
    assert (itself.status, itself.body["error"]["reason"]) == (409, "cannot_disable_yourself")
    assert _me(api, operator) == 200


def test_a_token_naming_another_version_is_refused(api: Api) -> None:
    """The version is signed: a token cannot claim the current version after a revocation
    without the signing key, and one signed with a stale version stays refused."""
    token = api.login("client-a")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["ver"] == 0
    api.identity.accounts.revoke_access(api.users["client-a"])
    _refused(api, token)
    fresh = api.login("client-a")
    assert jwt.decode(fresh, options={"verify_signature": False})["ver"] == 1
    assert _me(api, fresh) == 200
