"""How the sagas context is put together from the shared platform."""

from __future__ import annotations

from dataclasses import dataclass

from functions.sagas.engine import Engine
from functions.sagas.handlers import HANDLERS, IN_PROCESS_HANDLERS, Dependencies
from functions.sagas.messages import NAMES
from functions.sagas.plans import DEFINITIONS
from functions.sagas.unit_of_work import (
    COLLECTION,
    LOG_COLLECTION,
    ROUTES_COLLECTION,
    SagaCollections,
    SagasUnitOfWork,
)
from shared.platform import Platform
from shared.service.processing import MessageProcessor, processor_handlers


@dataclass(frozen=True)
class SagasWiring:
    platform: Platform
    processor: MessageProcessor[SagasUnitOfWork, Dependencies]
    collections: SagaCollections


def build(platform: Platform) -> SagasWiring:
    settings = platform.settings
    collections = SagaCollections(
        sagas=settings.collection(COLLECTION),
        log=settings.collection(LOG_COLLECTION),
        routes=settings.collection(ROUTES_COLLECTION),
    )
    processor = MessageProcessor(
        consumer=NAMES.name,
        context=NAMES,
        inbox_collection=settings.collection(f"{NAMES.name}_inbox"),
        store=platform.store,
        publisher=platform.publisher,
        make_uow=lambda tx: SagasUnitOfWork(tx, collections),
        handlers=processor_handlers(HANDLERS, IN_PROCESS_HANDLERS),
        deps=Dependencies(clock=platform.clock, engine=Engine(DEFINITIONS)),
        clock=platform.clock,
        # A saga's replies carry its correlation id, and they all change its one document
        # (the parallel branches' replies arrive together): one at a time per instance.
        serialize_by=lambda envelope: envelope.correlation_id,
    )
    return SagasWiring(platform=platform, processor=processor, collections=collections)
