"""The catalogue's write side: handlers run by the idempotent MessageProcessor.

CATALOGUE_HANDLERS are run in-process by the ingestion functions (their commands never
travel on a topic); HANDLERS maps what the context consumes from its topics, each entry one
Cloud Function in main.py and one filtered trigger subscription in infra/topology.yaml.

The heavy work (reading, de-identifying, storing objects) happens before, outside any
transaction; these handlers only record its result, in the same transaction as the inbox
record and the outbox, so one upload gives one record and one event however often it is
delivered. Documents are plain read models (`put`), not versioned aggregates: a record is
written once per image, never updated concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from functions.ingestion.domain import block_of
from functions.ingestion.messages import (
    CatalogueImage,
    CompletePackage,
    ImageAnonymized,
    ImageRejected,
    IngestPackageEntry,
    RecordRejection,
    StudyIngested,
)
from functions.ingestion.pipeline import IngestionService
from functions.ingestion.unit_of_work import IngestionUnitOfWork, entry_doc_id
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import TransientError
from shared.domain.messages import Message
from shared.ports.documents import Document
from shared.service.processing import Handler


def _entry(package_id: str, index: int, outcome: str, **facts: Any) -> Document:
    return {
        "package_id": package_id,
        "entry_index": index,
        "block": block_of(index),
        "outcome": outcome,
        **facts,
    }


@dataclass(frozen=True)
class Dependencies:
    clock: Clock


def catalogue_image(command: CatalogueImage, uow: IngestionUnitOfWork, deps: Dependencies) -> None:
    """Record the image (original entity: ImagenAnonimizada) and announce it."""
    c = uow.collections
    existing = uow.tx.get(c.images, command.image_id)
    # The same image uploaded again (another generation) keeps its first ingest time.
    ingested_at = existing["ingested_at"] if existing else rfc3339(deps.clock())
    record = {
        **command.model_dump(exclude={"unit_id", "package_id", "entry_index"}),
        "ingested_at": ingested_at,
        "source_unit_id": command.unit_id,
        "package_id": command.package_id,
    }
    uow.tx.put(c.images, command.image_id, record)
    if command.package_id is not None and command.entry_index is not None:
        uow.tx.put(
            c.entries,
            entry_doc_id(command.package_id, command.entry_index),
            _entry(
                command.package_id, command.entry_index, "anonymized",
                image_id=command.image_id, study_id=command.study_id,
            ),
        )  # fmt: skip
    uow.events.append(
        ImageAnonymized(
            image_id=command.image_id,
            patient_token=command.patient_token,
            study_id=command.study_id,
            series_id=command.series_id,
            modality=command.modality,
            anatomical_region=command.anatomical_region,
            pathology=command.pathology,
            image_format=command.image_format,
            data_source=command.data_source,
            uri=command.uri,
            size=command.size,
            sha256=command.sha256,
            ingested_at=ingested_at,
            package_id=command.package_id,
        )
    )


def record_rejection(
    command: RecordRejection, uow: IngestionUnitOfWork, deps: Dependencies
) -> None:
    c = uow.collections
    rejected_at = rfc3339(deps.clock())
    uow.tx.put(
        c.rejections,
        command.rejection_id,
        {**command.model_dump(), "rejected_at": rejected_at},
    )
    if command.package_id is not None and command.entry_index is not None:
        uow.tx.put(
            c.entries,
            entry_doc_id(command.package_id, command.entry_index),
            _entry(command.package_id, command.entry_index, "rejected", reason=command.reason),
        )
    uow.events.append(ImageRejected(**command.model_dump(), rejected_at=rejected_at))


def complete_package(
    command: CompletePackage, uow: IngestionUnitOfWork, deps: Dependencies
) -> None:
    c = uow.collections
    package = uow.tx.get(c.packages, command.package_id)
    if package is None:  # written before any entry command is published: wait for it
        raise TransientError("package record not visible yet")
    completed_at = rfc3339(deps.clock())
    uow.tx.put(
        c.packages,
        command.package_id,
        {
            **package,
            "status": "complete",
            "completed_at": completed_at,
            "anonymized": command.anonymized,
            "rejected": command.rejected,
            "study_ids": command.study_ids,
        },
    )
    uow.events.append(
        StudyIngested(
            package_id=command.package_id,
            data_source=str(package.get("data_source", "")),
            entry_count=int(package.get("entry_count", 0)),
            anonymized=command.anonymized,
            rejected=command.rejected,
            study_ids=command.study_ids,
            completed_at=completed_at,
        )
    )


CATALOGUE_HANDLERS: Mapping[type[Message], Handler[IngestionUnitOfWork, Any]] = {
    CatalogueImage: catalogue_image,
    RecordRejection: record_rejection,
    CompletePackage: complete_package,
}
# Consumed from ingestion-commands. The handler is the pipeline's: an entry is read and
# de-identified before anything is recorded (through CATALOGUE_HANDLERS).
HANDLERS: Mapping[type[Message], Callable[..., object]] = {
    IngestPackageEntry: IngestionService.ingest_entry,
}
