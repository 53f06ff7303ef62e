"""ID tokens of the local cloud mode: what the metadata server gives a function in the cloud.

In the cloud a function calls another with a Google-signed ID token of its service account
for the callee's URL, and Cloud Run checks the signature, the audience and the caller's
invoker role. The local cloud mode (infra/local/router.py) plays both parts with a key the
stack generates at start: HS256 tokens, `sub` the caller's service account, `aud` the URL.
The key is taken only while the Google clients point at emulators, which a deployed
function never does, so a leaked variable can never stand in for a real token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable

KEY_ENV = "SALUDTECH_LOCAL_ID_TOKEN_KEY"
LIFETIME_SECONDS = 3600
_EMULATORS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")


class InvalidIdToken(ValueError):
    """Not a token the stack signed, expired, or for another audience."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, subject: str, audience: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": subject, "aud": audience, "iat": issued, "exp": issued + LIFETIME_SECONDS}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify(key: bytes, token: str, audience: str, now: float | None = None) -> str:
    """The caller's service account; raises InvalidIdToken for anything else."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise InvalidIdToken("bad signature")
        claims = json.loads(_unb64(payload))
    except (ValueError, TypeError) as error:
        raise InvalidIdToken(f"unreadable token: {error}") from error
    if claims.get("aud") != audience:
        raise InvalidIdToken(f"audience {claims.get('aud')!r} is not {audience!r}")
    if float(claims.get("exp", 0)) < (time.time() if now is None else now):
        raise InvalidIdToken("expired")
    return str(claims.get("sub") or "")


def local_id_tokens_configured() -> bool:
    """The stack gave a key, and the clients talk to emulators (never true in the cloud)."""
    return bool(os.environ.get(KEY_ENV)) and any(os.environ.get(e) for e in _EMULATORS)


def local_id_tokens(subject: str) -> Callable[[str], str]:
    """audience -> a token of `subject`, signed with the stack's key."""
    if not local_id_tokens_configured():
        raise RuntimeError(f"{KEY_ENV} is only taken while the clients point at emulators")
    key = os.environ[KEY_ENV].encode()
    return lambda audience: sign(key, subject, audience)


PLATFORM_SUBJECT = "platform"  # push subscriptions and Cloud Scheduler: the bridge


def platform_tokens() -> Callable[[str], dict[str, str]]:
    """url -> the Authorization header the push subscriptions and the scheduler send, in
    the cloud mode (the stack gives the bridge the key); no header otherwise."""
    key = os.environ.get(KEY_ENV, "").encode()
    if not key:
        return lambda _url: {}
    return lambda url: {"Authorization": f"Bearer {sign(key, PLATFORM_SUBJECT, url)}"}
