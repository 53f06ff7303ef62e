"""How the ingestion context is put together from the shared platform."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from functions.ingestion.domain import IngestionLimits
from functions.ingestion.field_crypto import FieldCipher
from functions.ingestion.handlers import HANDLERS, IN_PROCESS_HANDLERS, Dependencies
from functions.ingestion.messages import NAMES, CatalogueImage
from functions.ingestion.pipeline import IngestionService
from functions.ingestion.unit_of_work import Collections, IngestionUnitOfWork
from shared.platform import Platform
from shared.service.command_log import CommandLog
from shared.service.processing import MessageProcessor, processor_handlers


@dataclass(frozen=True)
class IngestionWiring:
    platform: Platform
    service: IngestionService
    collections: Collections
    # The commands ingestion_commands_http accepted (an operator's review of quarantine).
    commands: CommandLog


def build(platform: Platform) -> IngestionWiring:
    settings = platform.settings
    collections = Collections.from_settings(settings)
    processor: MessageProcessor[IngestionUnitOfWork, Any] = MessageProcessor(
        consumer=NAMES.name,
        context=NAMES,
        inbox_collection=collections.inbox,
        store=platform.store,
        publisher=platform.publisher,
        make_uow=lambda tx: IngestionUnitOfWork(tx, collections),
        handlers=processor_handlers(HANDLERS, IN_PROCESS_HANDLERS),
        deps=Dependencies(clock=platform.clock),
        clock=platform.clock,
        prefetch=lambda envelope: (
            [(collections.images, envelope.subject)] if envelope.type == CatalogueImage.TYPE else []
        ),
    )
    service = IngestionService(
        settings=settings,
        blobs=platform.blobs,
        store=platform.store,
        publisher=platform.publisher,
        processor=processor,
        cipher=FieldCipher.from_settings(settings),
        collections=collections,
        key=settings.require_hmac_key().encode(),
        clock=platform.clock,
        limits=IngestionLimits.from_environment(os.environ),
    )
    commands = CommandLog(
        store=platform.store,
        collection=settings.collection(f"{NAMES.name}_commands"),
        inbox_collection=collections.inbox,
        dead_letters=platform.dead_letters,
        clock=platform.clock,
    )
    return IngestionWiring(
        platform=platform, service=service, collections=collections, commands=commands
    )
