"""How the api context is put together from the shared platform."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from functions.api.audit import COLLECTION as AUDIT
from functions.api.audit import AuditLog
from functions.api.commands import COMMANDS, ContextCommands
from functions.api.identity_doors import IdentityDoors
from functions.api.rate_limits import COLLECTION as RATE_LIMITS
from functions.api.rate_limits import RateLimiter, WindowCounters
from functions.api.uploads import UploadSigner, UploadUrls
from shared.platform import Platform
from shared.service.context import database_of

INGEST_BUCKET = "ingest"


@dataclass(frozen=True)
class ApiWiring:
    platform: Platform
    # Accounts, sessions and access tokens are the identity context's: asked at its doors.
    identity: IdentityDoors
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

        client = firestore.Client(project=platform.settings.project_id, database=database_of("api"))
        return FirestoreWindowCounters(client, platform.settings.collection(RATE_LIMITS))
    from functions.api.adapters.memory_counters import InMemoryWindowCounters

    return InMemoryWindowCounters()


def upload_signer(platform: Platform) -> UploadSigner:
    from functions.api.adapters.url_signers import (
        GrantCheckedUploadSigner,
        IamUploadSigner,
        LocalKeyUploadSigner,
    )
    from shared.adapters.local_id_tokens import local_id_tokens_configured

    settings = platform.settings
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST", "") or "https://storage.googleapis.com"
    if settings.environment == "cloud" and local_id_tokens_configured():
        # The local cloud mode: no IAM to sign through; only a function granted signBlob
        # may sign, with a local key (fake-gcs-server checks no signature).
        return GrantCheckedUploadSigner(LocalKeyUploadSigner(endpoint, settings.project_id))
    if settings.environment == "cloud" or settings.api_signing_service_account:
        from google.cloud import storage  # type: ignore[attr-defined]

        client = storage.Client(project=settings.project_id)
        return IamUploadSigner(client, settings.api_signing_service_account)
    # Locally the URL points at the emulator the stack runs (the Cloud Storage default
    # otherwise, which fake-gcs-server is not).
    return LocalKeyUploadSigner(endpoint, settings.project_id)


def build(platform: Platform) -> ApiWiring:
    settings = platform.settings
    return ApiWiring(
        platform=platform,
        identity=IdentityDoors(platform.doors),
        limiter=RateLimiter(counters=window_counters(platform), clock=platform.clock),
        audit=AuditLog(platform.store, settings.collection(AUDIT), platform.clock),
        commands=ContextCommands(platform.store, settings.collection(COMMANDS), platform.doors),
        uploads=UploadUrls(
            signer=upload_signer(platform),
            bucket=settings.bucket(INGEST_BUCKET),
            lifetime=timedelta(seconds=settings.api_upload_url_seconds),
        ),
    )
