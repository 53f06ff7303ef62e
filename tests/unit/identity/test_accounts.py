"""What identity stores: email and national id sealed, usernames behind an HMAC, refresh
tokens as their digest only; the domain's roles are the contract's."""

from __future__ import annotations

import pytest

from functions.identity.accounts import USERNAMES, USERS
from functions.identity.domain import Account, NewAccount, Principal
from functions.identity.messages import Role
from shared.domain.errors import PermanentError
from shared.service.field_crypto import SEALED_PREFIX, FieldCipherError
from tests.unit.identity.conftest import PASSWORD, Identity


def test_email_and_national_id_are_stored_sealed(identity: Identity) -> None:
    users = identity.platform.settings.collection(USERS)
    stored = identity.platform.store.get(users, identity.users["client-a"])
    assert stored is not None
    assert "client-a@example.com" not in str(stored)
    assert "12345678" not in str(stored)
    assert stored["email_sealed"].startswith(SEALED_PREFIX)
    # A sealed value copied onto another user does not open there.
    other = identity.users["center-a"]
    theirs = identity.platform.store.get(users, other) or {}
    copied = {**theirs, "email_sealed": stored["email_sealed"]}
    identity.platform.store.run_in_transaction(lambda tx: tx.put(users, other, copied))
    assert identity.wiring.accounts.user(other) is not None
    with pytest.raises(FieldCipherError):
        identity.wiring.accounts.profile(other)


def test_usernames_and_refresh_tokens_are_not_stored_in_the_clear(identity: Identity) -> None:
    token = identity.tokens("client-a")["refresh_token"]
    usernames = identity.platform.settings.collection(USERNAMES)
    assert token not in str(identity.platform.store._docs)
    lookups = [key for collection, key in identity.platform.store._docs if collection == usernames]
    assert lookups and all("client-a" not in key for key in lookups)


def test_accounts_live_in_identity_collections(identity: Identity) -> None:
    stored = {collection for collection, _ in identity.platform.store._docs}
    settings = identity.platform.settings
    assert {settings.collection(USERS), settings.collection(USERNAMES)} <= stored
    assert all(name.startswith("identity_") for name in (USERS, USERNAMES))


def test_the_roles_are_the_contracts() -> None:
    assert {role.value for role in Role} == {"center", "client", "expert", "operator"}


def test_the_account_rules() -> None:
    with pytest.raises(PermanentError) as weak:
        NewAccount("u", "short", Role.CLIENT, "0001", "u@example.com").validate()
    assert (weak.value.reason, weak.value.field) == ("weak_password", "password")
    with pytest.raises(PermanentError) as scopeless:
        NewAccount("u", PASSWORD, Role.EXPERT, "", "u@example.com").validate()
    assert scopeless.value.reason == "missing_scope"
    NewAccount("ops", PASSWORD, Role.OPERATOR, "", "o@example.com").validate()
    account = Account("u-1", Role.CLIENT, "0001", token_version=2, disabled=False)
    assert account.is_current(Principal("u-1", Role.CLIENT, "0001", token_version=2))
    assert not account.is_current(Principal("u-1", Role.CLIENT, "0001", token_version=1))
    assert not account.is_current(Principal("u-2", Role.CLIENT, "0001", token_version=2))
    disabled = Account("u-1", Role.CLIENT, "0001", token_version=2, disabled=True)
    assert not disabled.may_log_in()
    assert not disabled.is_current(account.principal)
