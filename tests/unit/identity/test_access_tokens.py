"""Access tokens at /tokens/verify: forged, misaddressed, unknown kid, "none" all refused;
a key rotation keeps tokens signed with the previous kid valid until it is removed. A token
names its account and token version only: the role and scope answered are the account's,
whatever a token signed with a leaked key claims (issue 22)."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from functions.identity.access_tokens import AUDIENCE, ISSUER, AccessTokens, TokenSubject
from functions.identity.accounts import USERS
from functions.identity.domain import InvalidToken, Principal
from functions.identity.messages import Role
from shared.ports.documents import DocumentTransaction
from tests.unit.identity.conftest import Identity, reason

WHO = Principal("u-1", Role.CLIENT, "0001", token_version=3)
DROP = object()  # a claim the token leaves out


def _claims(identity: Identity, user: str = "operator", /, **changes: object) -> dict[str, object]:
    issued = int(identity.clock().timestamp())
    claims: dict[str, object] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": identity.users[user], "iat": issued,
        "exp": issued + 300, "ver": 0,
    }  # fmt: skip
    return {k: v for k, v in {**claims, **changes}.items() if v is not DROP}


def _signed(identity: Identity, claims: dict[str, object]) -> str:
    """A token signed with the real key: what anyone holding a leaked key can make."""
    secret = identity.platform.settings.jwt_key.get_secret_value()
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "k0"})


def test_a_token_signed_with_the_key_is_accepted(identity: Identity) -> None:
    secret = identity.platform.settings.jwt_key.get_secret_value()
    token = jwt.encode(_claims(identity), secret, algorithm="HS256", headers={"kid": "k0"})
    assert identity.verify(token).get_json()["role"] == "operator"


@pytest.mark.parametrize(
    ("changes", "key", "kid"),
    [
        ({}, "another-key-of-the-same-length-xxxxxxxx", "k0"),  # forged signature
        ({"aud": "someone-else"}, None, "k0"),
        ({"iss": "https://evil.example"}, None, "k0"),
        ({}, None, "k9"),  # a kid we never had
        ({"ver": 1}, None, "k0"),  # a version the account never had
        ({"ver": True}, None, "k0"),
        ({"ver": DROP}, None, "k0"),  # no version: the token names no account state
        ({"sub": "nobody"}, None, "k0"),  # no such account
        ({"sub": ""}, None, "k0"),
        ({"sub": DROP}, None, "k0"),
    ],
)
def test_forged_and_misaddressed_tokens_are_refused(
    identity: Identity, changes: dict[str, object], key: str | None, kid: str
) -> None:
    secret = key or identity.platform.settings.jwt_key.get_secret_value()
    claims = _claims(identity, **changes)
    token = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})
    assert reason(identity.verify(token)) == (401, "invalid_token")


def test_alg_none_is_refused(identity: Identity) -> None:
    token = jwt.encode(_claims(identity), None, algorithm="none", headers={"kid": "k0"})  # type: ignore[arg-type]
    assert reason(identity.verify(token)) == (401, "invalid_token")


def test_the_version_is_signed_and_a_revocation_raises_it(identity: Identity) -> None:
    """A token cannot claim the current version after a revocation without the signing key,
    and one signed with a stale version stays refused."""
    token = identity.tokens("client-a")["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["ver"] == 0
    identity.wiring.accounts.revoke_access(identity.users["client-a"])
    assert reason(identity.verify(token)) == (401, "invalid_token")
    fresh = identity.tokens("client-a")["access_token"]
    assert jwt.decode(fresh, options={"verify_signature": False})["ver"] == 1
    assert identity.verify(fresh).status_code == 200


def test_rotation_keeps_old_kids_valid_until_they_are_removed() -> None:
    now = datetime.now(UTC)
    before = AccessTokens({"k1": "one" * 12}, "k1", 600)
    during = AccessTokens({"k1": "one" * 12, "k2": "two" * 12}, "k2", 600)
    after = AccessTokens({"k2": "two" * 12}, "k2", 600)
    old, new = before.issue(WHO, now), during.issue(WHO, now)
    assert jwt.get_unverified_header(new)["kid"] == "k2"
    assert during.verify(old, now) == TokenSubject("u-1", 3)
    assert after.verify(new, now) == TokenSubject("u-1", 3)
    with pytest.raises(InvalidToken):
        after.verify(old, now)


def test_a_token_names_its_account_and_version_only() -> None:
    token = AccessTokens({"k1": "one" * 12}, "k1", 600).issue(WHO, datetime.now(UTC))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["ver"]) == ("u-1", 3)
    assert "role" not in claims and "scope" not in claims


@pytest.mark.parametrize(
    "claimed",
    [
        {"role": "operator", "scope": ""},
        {"role": "operator", "scope": "hospital-1"},
        {"role": "center", "scope": "hospital-1"},
        {"role": "superuser", "scope": "*"},
        {"role": 7, "scope": ["0001", "0002"]},
    ],
)
def test_claims_of_role_and_scope_grant_nothing(
    identity: Identity, claimed: dict[str, object]
) -> None:
    """Re-signed with the real key (a leaked one), a client's token that claims another
    role or scope speaks for the client, as its account says."""
    token = _signed(identity, _claims(identity, "client-a", **claimed))
    answer = identity.verify(token)
    assert answer.status_code == 200
    assert answer.get_json() == {
        "user_id": identity.users["client-a"], "role": "client", "scope": "0001"
    }  # fmt: skip


def test_the_role_and_scope_are_the_accounts_as_read_now(identity: Identity) -> None:
    """A token issued before the account's role changed acts with the new role; one issued
    before its token version was raised is refused."""
    token = identity.tokens("client-a")["access_token"]
    accounts = identity.wiring.accounts
    user_id = identity.users["client-a"]
    collection = accounts.collections[USERS]

    def promote(tx: DocumentTransaction) -> None:  # an operator's edit, no version raised
        user = tx.get(collection, user_id)
        assert user is not None
        tx.put(collection, user_id, {**user, "role": "center", "scope": "hospital-9"})

    accounts.store.run_in_transaction(promote)
    assert identity.verify(token).get_json()["role"] == "center"
    assert identity.verify(token).get_json()["scope"] == "hospital-9"
    accounts.revoke_access(user_id)  # the counter identity raises on a change
    assert reason(identity.verify(token)) == (401, "invalid_token")
