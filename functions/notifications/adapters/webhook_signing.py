"""Standard Webhooks signatures (standardwebhooks.com): `webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

During a key rotation several secrets sign at once, space-separated in one header, so a
receiver that knows either key accepts the message; the first secret is the current one.
Secrets are written as the spec writes them, `whsec_<base64 key>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # a receiver refuses older (or future) timestamps: no replays


def secret_key(secret: str) -> bytes:
    text = secret.strip()
    return base64.b64decode(text.removeprefix(PREFIX), validate=True)


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    if not secrets:
        raise ValueError("at least one signing secret")
    signatures = " ".join(
        f"v1,{signature(secret_key(s), message_id, timestamp, body)}" for s in secrets
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: int) -> bool:
    """What a receiver does: a valid v1 signature by `secret`, and a fresh timestamp."""
    message_id = received.get("webhook-id", "")
    stamp = received.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret_key(secret), message_id, int(stamp), body)
    for candidate in received.get("webhook-signature", "").split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False
