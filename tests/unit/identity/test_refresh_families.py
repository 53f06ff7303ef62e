"""Refresh-token families (security finding 4): a refresh token spent twice means two parties
held it, so its whole family (every token rotated from the same login) ends, and the access
tokens minted along it stop at their next check. Other logins of the account refresh."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from functions.identity.accounts import REFRESH_TOKENS, USERS
from tests.unit.identity.conftest import Identity, reason


def _refresh(identity: Identity, refresh_token: str) -> Any:
    return identity.commands.post("/sessions/refresh", json={"refresh_token": refresh_token})


def _digest(token: str) -> str:
    """The key a refresh token is stored under (its SHA-256, never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _version(identity: Identity, username: str) -> int:
    user = identity.wiring.accounts.user(identity.users[username]) or {}
    return int(user["token_version"])


@pytest.mark.parametrize("first", ["attacker", "owner"])
def test_a_replayed_refresh_token_ends_its_family(identity: Identity, first: str) -> None:
    """Attacker and owner hold the same refresh token; whoever spends it second ends the
    chain the first one started, whichever of them that was."""
    stolen = identity.tokens("client-a")
    other_device = identity.tokens("client-a")  # another login: another family
    first_pair = _refresh(identity, stolen["refresh_token"])
    assert first_pair.status_code == 200, first
    chain = first_pair.get_json()
    further = _refresh(identity, chain["refresh_token"]).get_json()  # the chain goes on
    assert identity.verify(further["access_token"]).status_code == 200

    assert reason(_refresh(identity, stolen["refresh_token"])) == (401, "invalid_token")

    # The whole family is refused, the tokens the first spender got included ...
    assert reason(_refresh(identity, further["refresh_token"])) == (401, "invalid_token")
    # ... and so are the access tokens minted along it (the token version was raised).
    for pair in (stolen, chain, further):
        assert reason(identity.verify(pair["access_token"])) == (401, "invalid_token")
    # The other device is not logged out: its access token lapsed with the version, its
    # refresh token (another family) stands, and what it refreshes to works.
    assert reason(identity.verify(other_device["access_token"])) == (401, "invalid_token")
    refreshed = _refresh(identity, other_device["refresh_token"])
    assert refreshed.status_code == 200
    assert identity.verify(refreshed.get_json()["access_token"]).status_code == 200


def test_a_logout_ends_the_family_of_its_token(identity: Identity) -> None:
    """The owner logs out with the token a thief has already spent: the thief's chain ends."""
    owner = identity.tokens("client-a")
    thief = _refresh(identity, owner["refresh_token"]).get_json()
    identity.commands.post("/sessions/revoke", json={"refresh_token": owner["refresh_token"]})
    assert reason(_refresh(identity, thief["refresh_token"])) == (401, "invalid_token")


def test_each_login_starts_a_family_and_a_rotation_keeps_it(identity: Identity) -> None:
    store, tokens = identity.platform.store, identity.platform.settings.collection(REFRESH_TOKENS)
    first, second = identity.tokens("client-a"), identity.tokens("client-a")
    rotated = _refresh(identity, first["refresh_token"]).get_json()

    def record(pair: dict[str, Any]) -> dict[str, Any]:
        return store.get(tokens, _digest(pair["refresh_token"])) or {}

    assert record(first)["family"] == record(rotated)["family"] != record(second)["family"]
    assert (record(first)["spent"], record(first)["revoked"]) == (True, True)
    assert (record(rotated)["spent"], record(rotated)["revoked"]) == (False, False)


def test_a_record_written_before_families_is_its_own_family(identity: Identity) -> None:
    store, tokens = identity.platform.store, identity.platform.settings.collection(REFRESH_TOKENS)
    legacy = identity.tokens("client-a")["refresh_token"]
    key = _digest(legacy)
    old = {k: v for k, v in (store.get(tokens, key) or {}).items() if k in
           ("user_id", "expires_at", "revoked")}  # fmt: skip
    store.run_in_transaction(lambda tx: tx.put(tokens, key, old))

    rotated = _refresh(identity, legacy).get_json()
    assert (store.get(tokens, _digest(rotated["refresh_token"])) or {})["family"] == key
    assert reason(_refresh(identity, legacy)) == (401, "invalid_token")
    assert reason(_refresh(identity, rotated["refresh_token"])) == (401, "invalid_token")


def test_a_revoked_token_presented_again_is_refused_but_is_no_replay(identity: Identity) -> None:
    """A token ended by a logout (or a password change, a disabling) was not spent: showing
    it again fails and ends nothing more (the account's other tokens stand)."""
    accounts = identity.wiring.accounts
    principal = accounts.account(identity.users["client-a"])
    assert principal is not None
    logged_out = accounts.open_session(principal.principal)
    other = identity.tokens("client-a")
    assert accounts.revoke_session(logged_out) == identity.users["client-a"]
    version = _version(identity, "client-a")
    assert accounts.rotate_session(logged_out) is None
    assert _version(identity, "client-a") == version
    assert identity.verify(other["access_token"]).status_code == 200


def test_a_disabled_account_spends_no_token(identity: Identity) -> None:
    pair = identity.tokens("client-a")
    users = identity.platform.settings.collection(USERS)
    store, user_id = identity.platform.store, identity.users["client-a"]
    disabled = {**(store.get(users, user_id) or {}), "disabled": True}
    store.run_in_transaction(lambda tx: tx.put(users, user_id, disabled))
    assert reason(_refresh(identity, pair["refresh_token"])) == (401, "invalid_token")
    tokens = identity.platform.settings.collection(REFRESH_TOKENS)
    assert not (store.get(tokens, _digest(pair["refresh_token"])) or {})["spent"]
