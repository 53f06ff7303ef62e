"""The composition root: the one place where adapters are chosen and handlers wired.

Entry points ask it for what they need; the cloud adapters are built once per function
instance (on the first request, not at import, so a cold start that serves a query does not
pay for a Pub/Sub client). Unit tests install an in-memory platform with `use()`.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import subscriptions
from functions.subscriptions import commands
from functions.subscriptions.messages import (
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    PaySubscription,
    SubscriptionCommandRejected,
)
from functions.subscriptions.payments_sandbox import SandboxPaymentGateway
from functions.subscriptions.ports import PaymentGateway
from functions.subscriptions.unit_of_work import SubscriptionsUnitOfWork
from shared.config import Settings, get_settings
from shared.logging import configure_logging
from shared.processing import MessageProcessor

if TYPE_CHECKING:  # ingestion is imported lazily: pydicom would slow every cold start
    from functions.ingestion.catalogue import Collections, IngestionUnitOfWork
    from functions.ingestion.pipeline import IngestionService
    from shared.blob_store import BlobStore


@dataclass
class Platform:
    """The adapters behind every port, for one environment."""

    settings: Settings
    store: Any  # DocumentStore
    publisher: Any  # EventPublisher and RawPublisher
    payments: PaymentGateway
    _cache: dict[str, Any] = field(default_factory=dict)


def cloud_platform(settings: Settings) -> Platform:
    """Google Cloud, or the emulators when the *_EMULATOR_HOST variables are set."""
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore
    from shared.adapters.pubsub_publisher import PubSubPublisher

    return Platform(
        settings=settings,
        store=FirestoreDocumentStore(firestore.Client(project=settings.project_id)),
        publisher=PubSubPublisher(settings.project_id),
        payments=SandboxPaymentGateway(),
    )


def in_memory_platform(settings: Settings | None = None) -> Platform:
    from shared.adapters.memory_publisher import InMemoryPublisher
    from shared.adapters.memory_store import InMemoryDocumentStore

    return Platform(
        settings=settings or Settings(),
        store=InMemoryDocumentStore(),
        publisher=InMemoryPublisher(),
        payments=SandboxPaymentGateway(),
    )


_platform: Platform | None = None
_lock = threading.Lock()


def platform() -> Platform:
    global _platform
    with _lock:
        if _platform is None:
            settings = get_settings()
            configure_logging(settings.log_level)
            _platform = cloud_platform(settings)
        return _platform


def use(replacement: Platform | None) -> None:
    """Install another platform (tests), or None to go back to the cloud one."""
    global _platform
    with _lock:
        _platform = replacement


# -- subscriptions ---------------------------------------------------------------------------
def subscriptions_processor(p: Platform) -> MessageProcessor[SubscriptionsUnitOfWork]:
    if "subscriptions" not in p._cache:
        collection = p.settings.collection(subscriptions.CONTEXT)
        p._cache["subscriptions"] = MessageProcessor(
            consumer="subscriptions.handle_command",
            source=subscriptions.SOURCE,
            events_topic=subscriptions.EVENTS_TOPIC,
            inbox_collection=p.settings.collection("subscriptions_inbox"),
            store=p.store,
            publisher=p.publisher,
            make_uow=lambda tx: SubscriptionsUnitOfWork(tx, collection),
            handlers={
                CreateSubscription: commands.create_subscription,
                ChangePlan: commands.change_plan,
                CancelSubscription: commands.cancel_subscription,
                PaySubscription: functools.partial(commands.pay_subscription, payments=p.payments),
            },
            rejection=SubscriptionCommandRejected,
            prefetch=lambda envelope: [(collection, envelope.subject)],
        )
    processor: MessageProcessor[SubscriptionsUnitOfWork] = p._cache["subscriptions"]
    return processor


def subscriptions_collection(p: Platform) -> str:
    return p.settings.collection(subscriptions.CONTEXT)


# -- ingestion -------------------------------------------------------------------------------
def ingestion_collections(p: Platform) -> Collections:
    from functions.ingestion.catalogue import Collections

    if "ingestion_collections" not in p._cache:
        p._cache["ingestion_collections"] = Collections.from_settings(p.settings)
    collections: Collections = p._cache["ingestion_collections"]
    return collections


def ingestion_blobs(p: Platform) -> BlobStore:
    """The BlobStore: in memory beside an in-memory document store (unit tests), else GCS."""
    if "ingestion_blobs" not in p._cache:
        from shared.adapters.memory_store import InMemoryDocumentStore

        if isinstance(p.store, InMemoryDocumentStore):
            from shared.adapters.memory_blob_store import InMemoryBlobStore

            p._cache["ingestion_blobs"] = InMemoryBlobStore()
        else:
            from google.cloud import storage  # type: ignore[attr-defined]

            from shared.adapters.gcs_blob_store import GcsBlobStore

            client = storage.Client(project=p.settings.project_id)
            p._cache["ingestion_blobs"] = GcsBlobStore(client)
    blobs: BlobStore = p._cache["ingestion_blobs"]
    return blobs


def ingestion_processor(p: Platform) -> MessageProcessor[IngestionUnitOfWork]:
    if "ingestion_processor" not in p._cache:
        from functions.ingestion import catalogue, names
        from functions.ingestion.messages import (
            CatalogueImage,
            CompletePackage,
            IngestionCommandRejected,
            RecordRejection,
        )

        collections = ingestion_collections(p)
        p._cache["ingestion_processor"] = MessageProcessor(
            consumer="ingestion.ingest",
            source=names.SOURCE,
            events_topic=names.EVENTS_TOPIC,
            inbox_collection=collections.inbox,
            store=p.store,
            publisher=p.publisher,
            make_uow=lambda tx: catalogue.IngestionUnitOfWork(tx, collections),
            handlers={
                CatalogueImage: catalogue.catalogue_image,
                RecordRejection: catalogue.record_rejection,
                CompletePackage: catalogue.complete_package,
            },
            rejection=IngestionCommandRejected,
            prefetch=lambda envelope: (
                [(collections.images, envelope.subject)]
                if isinstance(envelope.payload, CatalogueImage)
                else []
            ),
        )
    processor: MessageProcessor[IngestionUnitOfWork] = p._cache["ingestion_processor"]
    return processor


def ingestion_service(p: Platform) -> IngestionService:
    if "ingestion_service" not in p._cache:
        import os

        from functions.ingestion.domain import IngestionLimits
        from functions.ingestion.field_crypto import FieldCipher
        from functions.ingestion.pipeline import IngestionService

        p._cache["ingestion_service"] = IngestionService(
            settings=p.settings,
            blobs=ingestion_blobs(p),
            store=p.store,
            publisher=p.publisher,
            processor=ingestion_processor(p),
            cipher=FieldCipher.from_settings(p.settings),
            collections=ingestion_collections(p),
            key=p.settings.hmac_key.get_secret_value().encode(),
            limits=IngestionLimits.from_environment(os.environ),
        )
    service: IngestionService = p._cache["ingestion_service"]
    return service
