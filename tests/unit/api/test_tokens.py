"""Access tokens through /v1: the api asks identity (POST /tokens/verify) and answers its
refusals as 401 invalid_token with a challenge: expired, forged, wrong audience or issuer,
unknown kid, "none". (Key rotation: tests/unit/identity/test_access_tokens.py; every
forgery on every route, and claims of role and scope: test_forged_tokens.py.)"""

from __future__ import annotations

import jwt
import pytest

from functions.identity.access_tokens import AUDIENCE, ISSUER
from tests.unit.api.conftest import Api


def test_a_token_opens_the_routes_of_its_role(api: Api) -> None:
    token = api.login("client-a")
    answer = api.call("GET", "/v1/me", token=token)
    assert answer.status == 200
    assert answer.body["role"] == "client"
    assert answer.body["email"] == "client-a@example.com"


def test_a_missing_token_is_a_401_with_a_challenge(api: Api) -> None:
    answer = api.call("GET", "/v1/me")
    assert answer.status == 401
    assert answer.body["error"]["reason"] == "missing_token"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(api: Api) -> None:
    token = api.login("client-a")
    api.clock.advance(api.platform.settings.api_access_token_seconds)
    answer = api.call("GET", "/v1/me", token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (401, "invalid_token")


def _claims(api: Api, **changes: object) -> dict[str, object]:
    issued = int(api.clock().timestamp())
    claims: dict[str, object] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": api.users["operator"], "iat": issued,
        "exp": issued + 300, "ver": 0,
    }  # fmt: skip
    return {**claims, **changes}


@pytest.mark.parametrize(
    ("changes", "key", "kid"),
    [
        ({}, "another-key-of-the-same-length-xxxxxxxx", "k0"),  # forged signature
        ({"aud": "someone-else"}, None, "k0"),
        ({"iss": "https://evil.example"}, None, "k0"),
        ({}, None, "k9"),  # a kid we never had
        ({"ver": 3}, None, "k0"),  # a version the account never had
        ({"sub": "nobody"}, None, "k0"),  # no such account
    ],
)
def test_forged_and_misaddressed_tokens_are_refused(
    api: Api, changes: dict[str, object], key: str | None, kid: str
) -> None:
    secret = key or api.platform.settings.jwt_key.get_secret_value()
    token = jwt.encode(_claims(api, **changes), secret, algorithm="HS256", headers={"kid": kid})
    answer = api.call("GET", "/v1/dead-letters", token=token)
    assert (answer.status, answer.body["error"]["reason"]) == (401, "invalid_token")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_alg_none_is_refused(api: Api) -> None:
    token = jwt.encode(_claims(api), None, algorithm="none", headers={"kid": "k0"})  # type: ignore[arg-type]
    assert api.call("GET", "/v1/dead-letters", token=token).status == 401


def test_garbage_is_refused(api: Api) -> None:
    for token in ["x", "a.b.c", "Bearer", "ey" * 400]:
        assert api.call("GET", "/v1/me", token=token).status == 401
