"""Signing links to objects: through IAM signBlob in the cloud, with a local key locally.

Cloud Functions hold no private key, so in the cloud a V4 signed URL is signed by the IAM
Credentials API (signBlob) with the function's service account: the client library does
that when given the account's email and an access token. fake-gcs-server checks no
signature, so locally an HMAC of the same string stands in for it, in the same URL shape.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode


class LocalUrlSigner:
    """V4-shaped URLs to the storage endpoint given (fake-gcs-server locally)."""

    def __init__(self, endpoint: str, key: bytes, clock: Any) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._key = key
        self._clock = clock

    def sign(self, bucket: str, name: str, expires_at: datetime) -> str:
        now: datetime = self._clock()
        seconds = max(1, int((expires_at - now).total_seconds()))
        query = {
            "X-Goog-Algorithm": "GOOG4-HMAC-SHA256",
            "X-Goog-Date": now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "X-Goog-Expires": str(seconds),
            "X-Goog-SignedHeaders": "host",
        }
        path = f"/{bucket}/{quote(name)}"
        to_sign = f"GET\n{path}\n{urlencode(sorted(query.items()))}"
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self._endpoint}{path}?{urlencode({**query, 'X-Goog-Signature': signature})}"


class IamUrlSigner:
    """V4 signed URLs signed by IAM signBlob with the runtime service account."""

    def __init__(self, client: Any, clock: Any) -> None:
        self._client = client  # google.cloud.storage.Client
        self._clock = clock

    def sign(self, bucket: str, name: str, expires_at: datetime) -> str:
        import google.auth
        from google.auth.transport.requests import Request

        credentials: Any
        credentials, _ = google.auth.default()
        credentials.refresh(Request())
        url: str = (
            self._client.bucket(bucket)
            .blob(name)
            .generate_signed_url(
                version="v4",
                expiration=expires_at - self._clock(),
                method="GET",
                service_account_email=credentials.service_account_email,
                access_token=credentials.token,
            )
        )
        return url


class GrantCheckedSigner:
    """The local cloud mode's signer: refuses, as IAM would, a function not granted
    signBlob on its own account (shared/adapters/grants.py), then signs locally."""

    def __init__(self, signer: LocalUrlSigner) -> None:
        self._signer = signer

    def sign(self, bucket: str, name: str, expires_at: datetime) -> str:
        from shared.adapters import grants

        grants.check_signs_urls()
        return self._signer.sign(bucket, name, expires_at)
