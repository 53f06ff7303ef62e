"""Google-issued ID tokens, checked against certificates from a local endpoint (a key pair
made here), fetched once and cached; forged, expired and misaddressed tokens refused; a
linked identity exchanged for a token pair at POST /sessions/google."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from functions.identity.adapters.google_id_tokens import GoogleIdTokens, http_certificates
from functions.identity.domain import InvalidToken
from functions.identity.messages import Role
from tests.unit.identity.conftest import Identity, make_identity, reason

AUDIENCE = "saludtech-test"


def _key_and_certificate() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


KEY, CERTIFICATE = _key_and_certificate()
OTHER_KEY, _ = _key_and_certificate()


class CertificateServer:
    def __init__(self) -> None:
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps({"kid-1": CERTIFICATE}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=3600")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def certificates() -> Iterator[CertificateServer]:
    server = CertificateServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def google_token(key: Any = KEY, kid: str = "kid-1", **changes: Any) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": f"https://securetoken.google.com/{AUDIENCE}", "aud": AUDIENCE,
        "sub": "google-user-1", "iat": now, "exp": now + 600, "email": "x@example.com",
    }  # fmt: skip
    return jwt.encode({**claims, **changes}, key, algorithm="RS256", headers={"kid": kid})


def test_a_valid_token_is_accepted_and_the_certificates_are_fetched_once(
    certificates: CertificateServer,
) -> None:
    tokens = GoogleIdTokens(AUDIENCE, http_certificates(certificates.url))
    now = datetime.now(UTC).timestamp()
    assert tokens.verify(google_token(), now)["sub"] == "google-user-1"
    assert tokens.verify(google_token(sub="google-user-2"), now)["sub"] == "google-user-2"
    assert certificates.fetches == 1


@pytest.mark.parametrize(
    "token",
    [
        google_token(key=OTHER_KEY),
        google_token(aud="another-project"),
        google_token(iss="https://accounts.example"),
        google_token(exp=1_000_000),
        google_token(kid="kid-unknown"),
        jwt.encode(
            {"sub": "x"},
            "a-shared-secret-of-32-bytes-long!",
            algorithm="HS256",
            headers={"kid": "kid-1"},
        ),
    ],
    ids=["forged", "audience", "issuer", "expired", "unknown-kid", "hs256"],
)
def test_bad_tokens_are_refused(certificates: CertificateServer, token: str) -> None:
    tokens = GoogleIdTokens(AUDIENCE, http_certificates(certificates.url))
    with pytest.raises(InvalidToken):
        tokens.verify(token, datetime.now(UTC).timestamp())


def test_an_unknown_kid_refetches_at_most_once_a_minute(certificates: CertificateServer) -> None:
    clock = [0.0]
    tokens = GoogleIdTokens(AUDIENCE, http_certificates(certificates.url), lambda: clock[0])
    now = datetime.now(UTC).timestamp()
    for _ in range(20):
        with pytest.raises(InvalidToken):
            tokens.verify(google_token(kid="kid-new"), now)
    assert certificates.fetches == 1
    clock[0] = 61.0
    with pytest.raises(InvalidToken):
        tokens.verify(google_token(kid="kid-new"), now)
    assert certificates.fetches == 2


def test_a_linked_google_identity_opens_a_session(certificates: CertificateServer) -> None:
    identity = next(
        make_identity(google_id_audience=AUDIENCE, google_id_certs_url=certificates.url)
    )
    user_id = identity.add_user("linked", Role.CLIENT, "0042", google_subject="google-user-1")
    identity.clock.now = datetime.now(UTC)
    answer = identity.commands.post("/sessions/google", json={"id_token": google_token()})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["user_id"] == user_id
    verified = identity.verify(answer.get_json()["access_token"]).get_json()
    assert (verified["user_id"], verified["scope"]) == (user_id, "0042")
    stranger = identity.commands.post(
        "/sessions/google", json={"id_token": google_token(sub="nobody")}
    )
    assert reason(stranger) == (401, "unknown_identity")
    forged = identity.commands.post(
        "/sessions/google", json={"id_token": google_token(key=OTHER_KEY)}
    )
    assert reason(forged) == (401, "invalid_token")


def test_without_an_audience_google_sign_in_is_off(identity: Identity) -> None:
    """Settings without SALUDTECH_GOOGLE_ID_AUDIENCE: every ID token is invalid."""
    answer = identity.commands.post("/sessions/google", json={"id_token": google_token()})
    assert reason(answer) == (401, "invalid_token")
