"""Access tokens at /tokens/verify: forged, misaddressed, unknown kid, "none" all refused;
a key rotation keeps tokens signed with the previous kid valid until it is removed."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from functions.identity.access_tokens import AUDIENCE, ISSUER, AccessTokens
from functions.identity.domain import InvalidToken, Principal
from functions.identity.messages import Role
from tests.unit.identity.conftest import Identity, reason

WHO = Principal("u-1", Role.CLIENT, "0001")


def _claims(identity: Identity, **changes: object) -> dict[str, object]:
    issued = int(identity.clock().timestamp())
    claims: dict[str, object] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": identity.users["operator"], "role": "operator",
        "scope": "", "iat": issued, "exp": issued + 300,
    }  # fmt: skip
    return {**claims, **changes}


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
        ({"role": "superuser"}, None, "k0"),
        ({"ver": 1}, None, "k0"),  # a version the account never had
        ({"ver": True}, None, "k0"),
        ({"sub": "nobody"}, None, "k0"),  # no such account
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
    assert during.verify(old, now) == WHO
    assert after.verify(new, now) == WHO
    with pytest.raises(InvalidToken):
        after.verify(old, now)
