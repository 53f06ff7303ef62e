"""How the data_services context is put together from the shared platform."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from functions.data_services import expert_slots
from functions.data_services.adapters.folder_access import RecordedFolderAccess
from functions.data_services.adapters.targets import StorageTargets
from functions.data_services.delivery import DeliveryService
from functions.data_services.handlers import HANDLERS, IN_PROCESS_HANDLERS, Dependencies
from functions.data_services.messages import NAMES
from functions.data_services.ports import FolderAccess, FolderGrant, UrlSigner
from functions.data_services.projections import Projections
from functions.data_services.revisions import ReviewService
from functions.data_services.unit_of_work import Collections, DataServicesUnitOfWork
from shared.platform import Platform
from shared.ports.blobs import BlobStore
from shared.ports.envelope import Envelope
from shared.service.command_log import CommandLog
from shared.service.processing import MessageProcessor, processor_handlers

DELIVERY_BUCKET = "delivery"  # logical name (infra/topology.yaml `buckets:`)
# The account a buyer grants roles/storage.objectCreator on its bucket (Terraform sets it:
# terraform/modules/platform/service_accounts.tf, `delivery`); the functions that write
# into a buyer's bucket act as it. Unset locally: the emulator checks no identity.
DELIVERY_ACCOUNT_ENV = "SALUDTECH_DELIVERY_SERVICE_ACCOUNT"
# How long a URL the files route signs reads its file: minutes, so a revoked, finished or
# cancelled service stops handing out links at once and the ones handed out die soon.
LINK_MINUTES_ENV = "SALUDTECH_DELIVERY_LINK_MINUTES"
DEFAULT_LINK_MINUTES = 15
FOLDER_GRANTS = "data_services_folder_grants"  # the emulators' record of folder grants


def link_minutes() -> int:
    raw = os.environ.get(LINK_MINUTES_ENV, "").strip()
    return max(1, min(int(raw), 7 * 24 * 60)) if raw.isdigit() else DEFAULT_LINK_MINUTES


def delivery_account() -> str:
    return os.environ.get(DELIVERY_ACCOUNT_ENV, "").strip()


def _in_the_cloud(platform: Platform) -> bool:
    from shared.adapters.local_id_tokens import local_id_tokens_configured

    return platform.settings.environment == "cloud" and not local_id_tokens_configured()


def buyer_blobs(platform: Platform) -> BlobStore:
    """The store that writes into buyers' buckets: in the cloud as the delivery account
    (impersonated: the function's own account holds the token creator role on it, and a
    buyer grants that one account, whichever function delivers); locally the platform's."""
    account = delivery_account()
    if not (_in_the_cloud(platform) and account):
        return platform.blobs
    import google.auth
    from google.auth import impersonated_credentials
    from google.cloud import storage  # type: ignore[attr-defined]

    from shared.adapters.gcs_blob_store import GcsBlobStore

    source, _ = google.auth.default()
    credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source,
        target_principal=account,
        target_scopes=["https://www.googleapis.com/auth/devstorage.read_write"],
    )
    client = storage.Client(project=platform.settings.project_id, credentials=credentials)
    return GcsBlobStore(client)


def folder_access(platform: Platform) -> FolderAccess:
    """Managed folders' IAM through the JSON API in the cloud; recorded in a document on
    the emulators and in memory (fake-gcs-server has neither managed folders nor IAM)."""
    if _in_the_cloud(platform):
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        from functions.data_services.adapters.folder_access import GcsManagedFolderAccess

        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/devstorage.full_control"]
        )
        return GcsManagedFolderAccess(AuthorizedSession(credentials))  # type: ignore[no-untyped-call]
    return RecordedFolderAccess(platform.store, platform.settings.collection(FOLDER_GRANTS))


@dataclass(frozen=True)
class DataServicesWiring:
    platform: Platform
    processor: MessageProcessor[DataServicesUnitOfWork, Dependencies]
    delivery: DeliveryService
    projections: Projections
    commands: CommandLog
    collections: Collections
    # The expert's review (revisions.py): exclusions and approval.
    review: ReviewService


def url_signer(platform: Platform) -> UrlSigner:
    """IAM signBlob in the cloud; locally an HMAC in the same URL shape, since
    fake-gcs-server checks no signature."""
    from functions.data_services.adapters.url_signing import (
        GrantCheckedSigner,
        IamUrlSigner,
        LocalUrlSigner,
    )
    from shared.adapters.local_id_tokens import KEY_ENV, local_id_tokens_configured

    settings = platform.settings
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST") or "http://127.0.0.1:4443"
    if settings.environment == "cloud" and local_id_tokens_configured():
        # The local cloud mode: no IAM to sign through; the stack's key stands in for the
        # service account's, and only a function granted signBlob may use it.
        signer = LocalUrlSigner(endpoint, os.environ[KEY_ENV].encode(), platform.clock)
        return GrantCheckedSigner(signer)
    if settings.environment == "cloud":
        from google.cloud import storage  # type: ignore[attr-defined]

        return IamUrlSigner(storage.Client(project=settings.project_id), platform.clock)
    key = settings.require_hmac_key().encode()
    return LocalUrlSigner(endpoint, key, platform.clock)


class _LazyFolders:
    """A FolderAccess made when first used."""

    def __init__(self, make: Callable[[], FolderAccess]) -> None:
        self._make = make
        self._made: FolderAccess | None = None

    def _access(self) -> FolderAccess:
        if self._made is None:
            self._made = self._make()
        return self._made

    def ensure_folder(self, bucket: str, folder: str) -> None:
        self._access().ensure_folder(bucket, folder)

    def grant(self, bucket: str, folder: str, principal: str, role: str, until: datetime) -> None:
        self._access().grant(bucket, folder, principal, role, until)

    def revoke(self, bucket: str, folder: str) -> None:
        self._access().revoke(bucket, folder)

    def grants(self, bucket: str, folder: str) -> list[FolderGrant]:
        return self._access().grants(bucket, folder)


def _service_of(envelope: Envelope) -> str:
    """The data service a message changes ("" for one that changes none)."""
    return envelope.subject if ".data_service." in envelope.type else ""


def build(platform: Platform) -> DataServicesWiring:
    settings, store = platform.settings, platform.store
    collections = Collections.from_settings(settings)

    processor = MessageProcessor(
        consumer=NAMES.name,
        context=NAMES,
        inbox_collection=collections.inbox,
        store=store,
        publisher=platform.publisher,
        make_uow=lambda tx: DataServicesUnitOfWork(tx, collections),
        handlers=processor_handlers(HANDLERS, IN_PROCESS_HANDLERS),
        deps=Dependencies(
            clock=platform.clock,
            experts_of=partial(expert_slots.experts_of, store, collections, clock=platform.clock),
            slots_held_by=partial(expert_slots.slots_held_by, store, collections),
            slots_reserved_for=partial(expert_slots.slots_reserved_for, store, collections),
            reservation=timedelta(seconds=settings.data_services_reservation_seconds),
        ),
        clock=platform.clock,
        prefetch=lambda envelope: (
            [(collections.services, service)] if (service := _service_of(envelope)) else []
        ),
        # The PRO saga's two branches (assign an expert, prepare the dataset) and their
        # duplicates change one data service at once.
        serialize_by=_service_of,
    )
    projections = Projections(store=store, collections=collections)
    delivery = DeliveryService(
        store=store,
        processor=processor,
        publisher=platform.publisher,
        projections=projections,
        targets=StorageTargets(
            sources=platform.blobs,
            platform=platform.blobs,
            buyers=lambda: buyer_blobs(platform),
            # Built at the first managed folder: google.auth.default() needs credentials.
            folders=_LazyFolders(lambda: folder_access(platform)),
            public_url=settings.require_public_url,
            service_account=delivery_account(),
        ),
        signer=url_signer(platform),
        collections=collections,
        delivery_bucket=settings.bucket(DELIVERY_BUCKET),
        clock=platform.clock,
    )
    return DataServicesWiring(
        platform=platform,
        processor=processor,
        delivery=delivery,
        projections=projections,
        commands=CommandLog(
            store=store,
            collection=collections.commands,
            inbox_collection=collections.inbox,
            dead_letters=platform.dead_letters,
            clock=platform.clock,
        ),
        collections=collections,
        review=ReviewService(
            store=store,
            processor=processor,
            delivery=delivery,
            collections=collections,
            clock=platform.clock,
        ),
    )
