"""How the api context is put together from the shared platform."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from functions.api.access_tokens import AccessTokens
from functions.api.accounts import IDENTITIES, REFRESH_TOKENS, USERNAMES, USERS, Accounts
from functions.api.audit import COLLECTION as AUDIT
from functions.api.audit import AuditLog
from functions.api.commands import COMMANDS, ContextCommands
from functions.api.google_tokens import GoogleIdTokens, http_certificates
from functions.api.passwords import Passwords
from functions.api.rate_limits import COLLECTION as RATE_LIMITS
from functions.api.rate_limits import RateLimiter, WindowCounters
from functions.api.uploads import UploadSigner, UploadUrls
from shared.platform import Platform
from shared.service.field_crypto import FieldCipher

INGEST_BUCKET = "ingest"


@dataclass(frozen=True)
class ApiWiring:
    platform: Platform
    accounts: Accounts
    tokens: AccessTokens
    google: GoogleIdTokens
    limiter: RateLimiter
    audit: AuditLog
    commands: ContextCommands
    uploads: UploadUrls


def window_counters(platform: Platform) -> WindowCounters:
    """Shared counters on Firestore when the platform is Firestore; in memory otherwise
    (unit tests, one process)."""
    from shared.adapters.firestore_store import FirestoreDocumentStore

    if isinstance(platform.store, FirestoreDocumentStore):
        from google.cloud import firestore

        from functions.api.adapters.firestore_counters import FirestoreWindowCounters

        client = firestore.Client(project=platform.settings.project_id)
        return FirestoreWindowCounters(client, platform.settings.collection(RATE_LIMITS))
    from functions.api.adapters.memory_counters import InMemoryWindowCounters

    return InMemoryWindowCounters()


def upload_signer(platform: Platform) -> UploadSigner:
    from functions.api.adapters.url_signers import IamUploadSigner, LocalKeyUploadSigner

    settings = platform.settings
    if settings.environment == "cloud" or settings.api_signing_service_account:
        from google.cloud import storage  # type: ignore[attr-defined]

        client = storage.Client(project=settings.project_id)
        return IamUploadSigner(client, settings.api_signing_service_account)
    # Locally the URL points at the emulator the stack runs (the Cloud Storage default
    # otherwise, which fake-gcs-server is not).
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST", "") or "https://storage.googleapis.com"
    return LocalKeyUploadSigner(endpoint, settings.project_id)


def build(platform: Platform) -> ApiWiring:
    settings = platform.settings
    collections = {
        name: settings.collection(name) for name in (USERS, USERNAMES, IDENTITIES, REFRESH_TOKENS)
    }
    return ApiWiring(
        platform=platform,
        accounts=Accounts(
            store=platform.store,
            passwords=Passwords(settings.api_password_time_cost, settings.api_password_memory_kib),
            cipher=FieldCipher.from_settings(settings),
            lookup_key=settings.hmac_key.get_secret_value().encode(),
            clock=platform.clock,
            collections=collections,
            refresh_seconds=settings.api_refresh_token_seconds,
        ),
        tokens=AccessTokens(
            keyring=settings.jwt_keyring(),
            active_kid=settings.jwt_active_kid,
            lifetime_seconds=settings.api_access_token_seconds,
        ),
        google=GoogleIdTokens(
            audience=settings.google_id_audience,
            fetch=http_certificates(settings.google_id_certs_url),
        ),
        limiter=RateLimiter(counters=window_counters(platform), clock=platform.clock),
        audit=AuditLog(platform.store, settings.collection(AUDIT), platform.clock),
        commands=ContextCommands(platform.store, settings.collection(COMMANDS)),
        uploads=UploadUrls(
            signer=upload_signer(platform),
            bucket=settings.bucket(INGEST_BUCKET),
            lifetime=timedelta(seconds=settings.api_upload_url_seconds),
        ),
    )
