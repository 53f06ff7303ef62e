"""The catalogue's write side: handlers run by the idempotent MessageProcessor.

The heavy work (reading, de-identifying, storing objects) happens before, outside any
transaction; these handlers only record its result, in the same transaction as the inbox
record and the outbox, so one upload gives one record and one event however often it is
delivered. Documents are plain read models (`put`), not versioned aggregates: a record is
written once per image, never updated concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.ingestion import names
from functions.ingestion.domain import block_of
from functions.ingestion.messages import (
    CatalogueImage,
    CompletePackage,
    ImageAnonymized,
    ImageRejected,
    RecordRejection,
    StudyIngested,
)
from shared.config import Settings
from shared.envelope import now_rfc3339
from shared.errors import TransientError
from shared.messages import Event
from shared.ports import Document, DocumentTransaction
from shared.repository import UnitOfWork


@dataclass(frozen=True)
class Collections:
    images: str
    rejections: str
    packages: str
    entries: str
    blocks: str
    inbox: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Collections:
        return cls(
            images=settings.collection(names.IMAGES),
            rejections=settings.collection(names.REJECTIONS),
            packages=settings.collection(names.PACKAGES),
            entries=settings.collection(names.PACKAGE_ENTRIES),
            blocks=settings.collection(names.PACKAGE_BLOCKS),
            inbox=settings.collection(names.INBOX),
        )


class IngestionUnitOfWork(UnitOfWork):
    """A transaction plus the events the handler recorded."""

    def __init__(self, tx: DocumentTransaction, collections: Collections) -> None:
        super().__init__(tx)
        self.collections = collections
        self.events: list[Event] = []

    def stage_changes(self) -> list[Any]:
        events, self.events = self.events, []
        return events


def entry_doc_id(package_id: str, index: int) -> str:
    return f"{package_id}-{index:06d}"


def _entry(package_id: str, index: int, outcome: str, **facts: Any) -> Document:
    return {
        "package_id": package_id,
        "entry_index": index,
        "block": block_of(index),
        "outcome": outcome,
        **facts,
    }


def catalogue_image(command: CatalogueImage, uow: IngestionUnitOfWork) -> None:
    """Record the image (original entity: ImagenAnonimizada) and announce it."""
    c = uow.collections
    existing = uow.tx.get(c.images, command.image_id)
    # The same image uploaded again (another generation) keeps its first ingest time.
    ingested_at = existing["ingested_at"] if existing else now_rfc3339()
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


def record_rejection(command: RecordRejection, uow: IngestionUnitOfWork) -> None:
    c = uow.collections
    rejected_at = now_rfc3339()
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


def complete_package(command: CompletePackage, uow: IngestionUnitOfWork) -> None:
    c = uow.collections
    package = uow.tx.get(c.packages, command.package_id)
    if package is None:  # written before any entry command is published: wait for it
        raise TransientError("package record not visible yet")
    completed_at = now_rfc3339()
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
