"""How the data_services context is put together from the shared platform."""

from __future__ import annotations

import os
from dataclasses import dataclass

from functions.data_services.adapters.bucket_target import BucketDeliveryTarget
from functions.data_services.delivery import DeliveryService
from functions.data_services.experts import ExpertLoad
from functions.data_services.handlers import HANDLERS, IN_PROCESS_HANDLERS, Dependencies
from functions.data_services.messages import NAMES
from functions.data_services.ports import UrlSigner
from functions.data_services.projections import Projections
from functions.data_services.unit_of_work import Collections, DataServicesUnitOfWork
from shared.platform import Platform
from shared.ports.documents import Filter
from shared.ports.envelope import Envelope
from shared.service.command_log import CommandLog
from shared.service.processing import MessageProcessor, processor_handlers

DELIVERY_BUCKET = "delivery"  # logical name (infra/topology.yaml `buckets:`)
MAX_EXPERTS_PER_SPECIALITY = 200


@dataclass(frozen=True)
class DataServicesWiring:
    platform: Platform
    processor: MessageProcessor[DataServicesUnitOfWork, Dependencies]
    delivery: DeliveryService
    projections: Projections
    commands: CommandLog
    collections: Collections


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


def _service_of(envelope: Envelope) -> str:
    """The data service a message changes ("" for one that changes none)."""
    return envelope.subject if ".data_service." in envelope.type else ""


def build(platform: Platform) -> DataServicesWiring:
    settings, store = platform.settings, platform.store
    collections = Collections.from_settings(settings)

    def experts_of(speciality: str) -> list[ExpertLoad]:
        page = store.query(
            collections.experts,
            [Filter("specialities", "array_contains", speciality)],
            limit=MAX_EXPERTS_PER_SPECIALITY,
        )
        return [
            ExpertLoad(
                code=doc_id,
                specialities=tuple(doc.get("specialities", ())),
                load=len(doc.get("assignments", ())),
                capacity=int(doc.get("capacity", 0)),
            )
            for doc_id, doc in page.items
        ]

    processor = MessageProcessor(
        consumer=NAMES.name,
        context=NAMES,
        inbox_collection=collections.inbox,
        store=store,
        publisher=platform.publisher,
        make_uow=lambda tx: DataServicesUnitOfWork(tx, collections),
        handlers=processor_handlers(HANDLERS, IN_PROCESS_HANDLERS),
        deps=Dependencies(clock=platform.clock, experts_of=experts_of),
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
        target=BucketDeliveryTarget(platform.blobs),
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
    )
