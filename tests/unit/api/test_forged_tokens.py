"""Forged access tokens on every protected operation of the OpenAPI document (issue 22):
no token, "none", another key, another algorithm, an unknown or missing kid, claims edited
after signing, expired, misaddressed, no token version: each is a 401, never a 2xx and
never a 5xx. And a token signed with the real key (a leaked one) grants no more than the
account it names: the role and scope are the account's, read on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from functions.identity.access_tokens import AUDIENCE, ISSUER
from functions.identity.accounts import USERS
from shared.ports.documents import DocumentTransaction
from tests.unit.api.conftest import Api, make_api

USER_OF_ROLE = {"center": "center-a", "client": "client-a", "expert": "expert-a",
                "operator": "operator"}  # fmt: skip
AN_ID = "3f2a9c1e7b6d4e0f8a5b2c9d1e7f6a3b"
# HS512 with our (HS256-sized) key is one of the forgeries: PyJWT warns about its length.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _protected_operations() -> list[tuple[str, str, str]]:
    """(method, path template, role that may use it) of every operation with x-roles."""
    made = make_api()
    api = next(made)
    try:
        answer = api.call("GET", "/v1/openapi.json")
        assert answer.status == 200
        document: dict[str, Any] = answer.body
    finally:
        for _ in made:  # its teardown
            pass
    operations = []
    for path, items in document["paths"].items():
        for method, operation in items.items():
            if not isinstance(operation, dict):
                continue
            roles = operation.get("x-roles")
            assert bool(roles) == bool(operation.get("security")), (method, path)
            if roles:
                operations.append((method.upper(), path, roles[0]))
    return operations


OPERATIONS = _protected_operations()


def _concrete(path: str) -> str:
    """Every path parameter a valid-looking value (frames: frame numbers)."""

    def value(part: str) -> str:
        if not part.startswith("{"):
            return part
        return "1" if part == "{frames}" else AN_ID

    return "/".join(value(part) for part in path.split("/"))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A JWT whose header says what it likes, HMAC-SHA256-signed with `key` regardless."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _edited(token: str, **changes: Any) -> str:
    """The token's claims edited, its signature kept (no key needed)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_b64(json.dumps({**claims, **changes}).encode())}.{signature}"


class Forger:
    """Tokens for one account, every way but the right one."""

    def __init__(self, api: Api, username: str) -> None:
        self.api = api
        self.key = api.platform.settings.jwt_keyring()["k0"]
        self.user_id = api.users[username]
        self.genuine = api.login(username)

    def claims(self, **changes: Any) -> dict[str, Any]:
        """The genuine token's claims, as identity signs them, but for `changes` (None:
        left out)."""
        claims = jwt.decode(self.genuine, options={"verify_signature": False})
        assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, AUDIENCE, self.user_id)
        return {k: v for k, v in {**claims, **changes}.items() if v is not None}

    def signed(self, key: str | None = None, kid: str | None = "k0", **changes: Any) -> str:
        headers = {} if kid is None else {"kid": kid}
        return jwt.encode(
            self.claims(**changes), key or self.key, algorithm="HS256", headers=headers
        )

    def forgeries(self) -> dict[str, Callable[[], str | None]]:
        now = int(self.api.clock().timestamp())
        other = self.api.users["operator" if self.user_id != self.api.users["operator"]
                               else "client-a"]  # fmt: skip
        return {
            "no token": lambda: None,
            "alg none": lambda: _unsigned(
                {"alg": "none", "typ": "JWT", "kid": "k0"}, self.claims()
            ),
            "alg None": lambda: _unsigned({"alg": "None", "kid": "k0"}, self.claims()),
            "signature stripped": lambda: self.signed().rsplit(".", 1)[0] + ".",
            "another key": lambda: self.signed(key="another-key-of-the-same-length-xxxxxxxx"),
            "RS256 header, HMAC body": lambda: _hand_signed(
                {"alg": "RS256", "typ": "JWT", "kid": "k0"}, self.claims(), self.key.encode()
            ),
            "HS512 with the key": lambda: jwt.encode(
                self.claims(), self.key, algorithm="HS512", headers={"kid": "k0"}
            ),
            "unknown kid": lambda: self.signed(kid="k9"),
            "no kid": lambda: self.signed(kid=None),
            "kid of another kind": lambda: _hand_signed(
                {"alg": "HS256", "typ": "JWT", "kid": ["k0"]}, self.claims(), self.key.encode()
            ),
            "role edited": lambda: _edited(self.genuine, role="operator", scope=""),
            "scope edited": lambda: _edited(self.genuine, scope="hospital-2"),
            "sub edited": lambda: _edited(self.genuine, sub=other),
            "version edited": lambda: _edited(self.genuine, ver=7),
            "expiry edited": lambda: _edited(self.genuine, exp=now + 10**6),
            "expired": lambda: self.signed(iat=now - 900, exp=now - 1),
            "expires now": lambda: self.signed(iat=now - 300, exp=now),
            "another audience": lambda: self.signed(aud="someone-else"),
            "another issuer": lambda: self.signed(iss="https://evil.example"),
            "no version": lambda: self.signed(ver=None),
            "a version never issued": lambda: self.signed(ver=1),
            "no such account": lambda: self.signed(sub="nobody"),
            "garbage": lambda: "ey" * 40,
        }


@pytest.mark.parametrize(
    ("method", "path", "role"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_forged_token_is_a_401(api: Api, method: str, path: str, role: str) -> None:
    forger = Forger(api, USER_OF_ROLE[role])
    concrete = _concrete(path)
    # The same token, signed as identity signs it, passes the token check: every refusal
    # below is the forgery's.
    honest = api.call(method, concrete, token=forger.signed())
    assert honest.status != 401, honest.body
    for name, forge in forger.forgeries().items():
        answer = api.call(method, concrete, token=forge())
        assert answer.status == 401, (name, answer.status, answer.body)
        assert answer.body["error"]["reason"] in {"missing_token", "invalid_token"}, name
        assert answer.headers["WWW-Authenticate"].startswith("Bearer"), name


def _re_signed_as_operator(api: Api, username: str) -> str:
    """The user's own token, its claims edited to say operator and re-signed with the real
    key: what anyone holding a weak or leaked key can make of their own login."""
    forger = Forger(api, username)
    claims = jwt.decode(forger.genuine, options={"verify_signature": False})
    claims.update(role="operator", scope="")
    return jwt.encode(claims, forger.key, algorithm="HS256", headers={"kid": "k0"})


def test_a_client_re_signed_as_operator_is_still_a_client(api: Api) -> None:
    token = _re_signed_as_operator(api, "client-a")
    refused = api.call("GET", "/v1/audit", token=token)
    assert (refused.status, refused.body["error"]["reason"]) == (403, "forbidden")
    assert api.call("GET", "/v1/dead-letters", token=token).status == 403
    me = api.call("GET", "/v1/me", token=token)
    assert (me.status, me.body["role"], me.body["user_id"]) == (
        200,
        "client",
        api.users["client-a"],
    )


def test_a_center_re_signed_as_another_scope_acts_for_its_own(api: Api) -> None:
    forger = Forger(api, "center-a")
    claims = jwt.decode(forger.genuine, options={"verify_signature": False})
    token = jwt.encode(
        {**claims, "role": "client", "scope": "0002"}, forger.key, headers={"kid": "k0"}
    )
    assert api.call("GET", "/v1/subscriptions", token=token).status == 403  # not a client
    me = api.call("GET", "/v1/me", token=token).body
    assert (me["role"], me["scope"]) == ("center", "hospital-1")


def _set_role(api: Api, username: str, role: str, scope: str) -> None:
    """An edit of the account's role in identity's store (no token version raised)."""
    accounts = api.identity.accounts
    collection, user_id = accounts.collections[USERS], api.users[username]

    def write(tx: DocumentTransaction) -> None:
        user = tx.get(collection, user_id)
        assert user is not None
        tx.put(collection, user_id, {**user, "role": role, "scope": scope})

    accounts.store.run_in_transaction(write)


def test_a_token_acts_with_the_accounts_role_as_it_is_now(api: Api) -> None:
    token = api.login("operator")
    assert api.call("GET", "/v1/audit", token=token).status == 200
    _set_role(api, "operator", "client", "0002")  # demoted after the token was issued
    refused = api.call("GET", "/v1/audit", token=token)
    assert (refused.status, refused.body["error"]["reason"]) == (403, "forbidden")
    assert api.call("GET", "/v1/me", token=token).body["role"] == "client"
    # And a raised token version (a logout, a password change, a disabling) revokes it.
    api.identity.accounts.revoke_access(api.users["operator"])
    revoked = api.call("GET", "/v1/me", token=token)
    assert (revoked.status, revoked.body["error"]["reason"]) == (401, "invalid_token")
