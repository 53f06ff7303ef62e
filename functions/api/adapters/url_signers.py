"""V4 signed URLs, signed with IAM signBlob in the cloud or with a local key locally.

Cloud Functions hold no private key: given the runtime service account's email and an
access token, the storage library signs through the IAM Credentials API (signBlob; the
account needs roles/iam.serviceAccountTokenCreator on itself). Locally a key pair made when
the process starts signs the same V4 URL against the emulator's endpoint; fake-gcs-server
checks no signature, so what the local stack proves is the URL's shape and the prefix.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import storage  # type: ignore[attr-defined]


def _blob(client: Any, bucket: str, name: str) -> Any:
    return storage.Blob(name, storage.Bucket(client, bucket))


class IamUploadSigner:
    def __init__(self, client: Any, service_account_email: str) -> None:
        self._client = client  # google.cloud.storage.Client
        self._email = service_account_email

    def sign_upload(self, bucket: str, name: str, content_type: str, lifetime: timedelta) -> str:
        import google.auth
        from google.auth.transport.requests import Request

        credentials, _ = google.auth.default()
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
        email = self._email or getattr(credentials, "service_account_email", "")
        url: str = _blob(self._client, bucket, name).generate_signed_url(
            version="v4", expiration=lifetime, method="PUT", content_type=content_type,
            service_account_email=email, access_token=credentials.token,
        )  # fmt: skip
        return url


@cache
def _local_key() -> str:
    """One key pair per process, made on first use."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class LocalKeyUploadSigner:
    def __init__(self, endpoint: str, project_id: str) -> None:
        from google.oauth2 import service_account

        pem = _local_key()
        self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            {
                "type": "service_account",
                "client_email": f"local-signer@{project_id}.iam.gserviceaccount.com",
                "private_key": pem,
                "token_uri": "http://127.0.0.1/token",  # never called: signing is offline
                "project_id": project_id,
            }
        )
        self._endpoint = endpoint.rstrip("/")
        self._client = storage.Client.create_anonymous_client()

    def sign_upload(self, bucket: str, name: str, content_type: str, lifetime: timedelta) -> str:
        url: str = _blob(self._client, bucket, name).generate_signed_url(
            version="v4", expiration=lifetime, method="PUT", content_type=content_type,
            credentials=self._credentials, api_access_endpoint=self._endpoint,
        )  # fmt: skip
        return url


class GrantCheckedUploadSigner:
    """The local cloud mode's signer: refuses, as IAM would, a function not granted signBlob
    on its own account (shared/adapters/grants.py), then signs with the local key."""

    def __init__(self, signer: LocalKeyUploadSigner) -> None:
        self._signer = signer

    def sign_upload(self, bucket: str, name: str, content_type: str, lifetime: timedelta) -> str:
        from shared.adapters import grants

        grants.check_signs_urls()
        return self._signer.sign_upload(bucket, name, content_type, lifetime)
