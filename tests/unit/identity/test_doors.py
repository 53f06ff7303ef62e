"""identity_commands_http and identity_queries_http: each door's answer and its refusals,
as messages.py describes them."""

from __future__ import annotations

import pytest

from functions.identity.messages import (
    PrincipalView,
    Role,
    SessionRevoked,
    TokenPair,
    UserCreated,
    UserProfile,
    UserStatus,
)
from tests.unit.identity.conftest import PASSWORD, Identity, reason

NEW_PASSWORD = "another long passphrase"


def test_a_login_answers_a_token_pair_and_the_token_speaks_for_the_account(
    identity: Identity,
) -> None:
    pair = TokenPair.model_validate(identity.tokens("client-a"))
    assert (pair.role, pair.user_id, pair.token_type) == (
        "client",
        identity.users["client-a"],
        "Bearer",
    )
    assert pair.expires_in == identity.platform.settings.api_access_token_seconds
    verified = identity.verify(pair.access_token)
    assert verified.status_code == 200
    assert PrincipalView.model_validate(verified.get_json()) == PrincipalView(
        user_id=identity.users["client-a"], role=Role.CLIENT, scope="0001"
    )


def test_usernames_are_case_insensitive(identity: Identity) -> None:
    assert identity.log_in("CLIENT-A").status_code == 200


def test_wrong_password_and_unknown_user_answer_alike(identity: Identity) -> None:
    wrong = identity.log_in("client-a", "not the password at all")
    unknown = identity.log_in("nobody-here")
    assert reason(wrong) == reason(unknown) == (401, "invalid_credentials")
    assert wrong.get_json() == unknown.get_json()


def test_a_refusal_names_the_field_and_never_echoes_the_password(identity: Identity) -> None:
    answer = identity.commands.post("/sessions", json={"username": "client-a", "password": ""})
    assert reason(answer) == (400, "schema_violation")
    assert answer.get_json()["error"]["field"] == "password"
    extra = identity.commands.post(
        "/sessions", json={"username": "x", "password": "secret-value!", "admin": True}
    )
    assert reason(extra) == (400, "schema_violation")
    assert "secret-value!" not in extra.get_data(as_text=True)


@pytest.mark.parametrize("token", ["x", "a.b.c", "ey" * 400])
def test_garbage_is_not_a_token(identity: Identity, token: str) -> None:
    assert reason(identity.verify(token)) == (401, "invalid_token")


def test_an_expired_access_token_is_refused(identity: Identity) -> None:
    token = identity.tokens("client-a")["access_token"]
    identity.clock.advance(identity.platform.settings.api_access_token_seconds)
    assert reason(identity.verify(token)) == (401, "invalid_token")


def test_a_refresh_token_is_spent_once(identity: Identity) -> None:
    first = identity.tokens("client-a")
    body = {"refresh_token": first["refresh_token"]}
    second = identity.commands.post("/sessions/refresh", json=body)
    assert second.status_code == 200
    assert TokenPair.model_validate(second.get_json()).user_id == identity.users["client-a"]
    assert reason(identity.commands.post("/sessions/refresh", json=body)) == (401, "invalid_token")


def test_a_revoke_answers_the_account_and_revokes_its_live_access_tokens(
    identity: Identity,
) -> None:
    tokens, other_device = identity.tokens("client-a"), identity.tokens("client-a")
    revoked = identity.commands.post(
        "/sessions/revoke", json={"refresh_token": tokens["refresh_token"]}
    )
    assert SessionRevoked.model_validate(revoked.get_json()).user_id == identity.users["client-a"]
    for live in (tokens, other_device):
        assert reason(identity.verify(live["access_token"])) == (401, "invalid_token")
    again = {"refresh_token": tokens["refresh_token"]}
    assert reason(identity.commands.post("/sessions/refresh", json=again))[0] == 401
    # The other device's refresh token stands.
    refreshed = identity.commands.post(
        "/sessions/refresh", json={"refresh_token": other_device["refresh_token"]}
    )
    assert identity.verify(refreshed.get_json()["access_token"]).status_code == 200


def test_revoking_an_unknown_refresh_token_answers_no_account(identity: Identity) -> None:
    token = identity.tokens("client-a")["access_token"]
    answer = identity.commands.post("/sessions/revoke", json={"refresh_token": "not-a-token"})
    assert (answer.status_code, answer.get_json()) == (200, {"user_id": None})
    assert identity.verify(token).status_code == 200


def test_a_password_change_revokes_every_earlier_token_and_answers_a_new_pair(
    identity: Identity,
) -> None:
    before = identity.tokens("center-a")
    path = f"/users/{identity.users['center-a']}/password"
    wrong = identity.commands.post(
        path, json={"current_password": "not it", "new_password": NEW_PASSWORD}
    )
    assert reason(wrong) == (403, "wrong_password")
    weak = identity.commands.post(path, json={"current_password": PASSWORD, "new_password": "x"})
    assert reason(weak) == (400, "weak_password")
    assert weak.get_json()["error"]["field"] == "new_password"
    assert identity.verify(before["access_token"]).status_code == 200  # nothing revoked yet
    changed = identity.commands.post(
        path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200
    assert reason(identity.verify(before["access_token"])) == (401, "invalid_token")
    refresh = {"refresh_token": before["refresh_token"]}
    assert identity.commands.post("/sessions/refresh", json=refresh).status_code == 401
    assert identity.verify(changed.get_json()["access_token"]).status_code == 200
    assert identity.log_in("center-a").status_code == 401
    assert identity.log_in("center-a", NEW_PASSWORD).status_code == 200


def test_a_password_change_of_nobody_is_a_wrong_password(identity: Identity) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    answer = identity.commands.post("/users/nobody/password", json=body)
    assert reason(answer) == (403, "wrong_password")


def test_disable_and_enable(identity: Identity) -> None:
    victim = identity.tokens("center-a")
    user_id = identity.users["center-a"]
    disabled = identity.commands.post(f"/users/{user_id}/disable")
    assert UserStatus.model_validate(disabled.get_json()) == UserStatus(
        user_id=user_id, disabled=True
    )
    assert reason(identity.verify(victim["access_token"])) == (401, "invalid_token")
    refresh = {"refresh_token": victim["refresh_token"]}
    assert identity.commands.post("/sessions/refresh", json=refresh).status_code == 401
    assert reason(identity.log_in("center-a")) == (401, "invalid_credentials")
    enabled = identity.commands.post(f"/users/{user_id}/enable")
    assert enabled.get_json() == {"user_id": user_id, "disabled": False}
    assert reason(identity.verify(victim["access_token"])) == (401, "invalid_token")
    assert identity.log_in("center-a").status_code == 200
    unknown = identity.commands.post("/users/nobody/disable")
    assert reason(unknown) == (404, "user_not_found")


def _new_user(**changes: object) -> dict[str, object]:
    body = {"username": "expert-z", "password": PASSWORD, "role": "expert", "scope": "EXP-9",
            "email": "z@example.com"}  # fmt: skip
    return {**body, **changes}


def test_create_user_and_read_its_profile(identity: Identity) -> None:
    created = identity.commands.post("/users", json=_new_user(national_id="99887766"))
    assert created.status_code == 201
    user = UserCreated.model_validate(created.get_json())
    assert user.role == "expert"
    profile = identity.queries.get(f"/users/{user.user_id}")
    assert UserProfile.model_validate(profile.get_json()).model_dump(exclude={"created_at"}) == {
        "user_id": user.user_id, "username": "expert-z", "role": "expert", "scope": "EXP-9",
        "email": "z@example.com", "national_id": "99887766",
    }  # fmt: skip
    assert identity.log_in("expert-z").status_code == 200
    assert reason(identity.queries.get("/users/nobody")) == (404, "user_not_found")


@pytest.mark.parametrize(
    ("changes", "expected", "field"),
    [
        ({"password": "short"}, "weak_password", "password"),
        ({"scope": ""}, "missing_scope", "scope"),
        ({"username": "client-a"}, "account_exists", None),
        ({"role": "superuser"}, "schema_violation", "role"),
    ],
)
def test_create_user_refusals(
    identity: Identity, changes: dict[str, object], expected: str, field: str | None
) -> None:
    answer = identity.commands.post("/users", json=_new_user(**changes))
    assert reason(answer) == (400, expected)
    assert answer.get_json()["error"].get("field") == field
    assert PASSWORD not in answer.get_data(as_text=True)


def test_unknown_paths_and_parameters_are_refused(identity: Identity) -> None:
    assert reason(identity.commands.post("/nowhere", json={})) == (404, "not_found")
    assert reason(identity.queries.get("/tokens/verify")) == (405, "method_not_allowed")
    answer = identity.queries.get(f"/users/{identity.users['operator']}?x=1")
    assert answer.status_code == 400
