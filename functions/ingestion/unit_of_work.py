"""Where the ingestion context keeps its records: collections and the unit of work.

The catalogue record is an aggregate (domain.CatalogueRecord) stored with a version, created
once per instance; its document doubles as the read model the queries answer from. Package
progress (entries, blocks) and rejections are plain documents written once each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.ingestion.domain import CatalogueRecord
from functions.ingestion.messages import PixelCleaningSummary
from shared.config import Settings
from shared.domain.messages import Event
from shared.ports.documents import Document, DocumentTransaction
from shared.service.unit_of_work import AggregateRepository, UnitOfWork

# Firestore collections (Settings.collection() adds the prefix).
IMAGES = "ingestion_images"  # the catalogue: one document per anonymized image
REJECTIONS = "ingestion_rejections"  # one document per quarantined object
PACKAGES = "ingestion_packages"  # one document per zip package (a study)
PACKAGE_ENTRIES = "ingestion_package_entries"  # one per entry done: no hot package document
PACKAGE_BLOCKS = "ingestion_package_blocks"  # one per completed block of entries
INBOX = "ingestion_inbox"
# One per upload (an object or a package) of a center: what became of it, for the center's
# own view (docs/ingestion.md, "A center's view"). Written in the outcome's transaction.
UPLOADS = "ingestion_uploads"


@dataclass(frozen=True)
class Collections:
    images: str
    rejections: str
    packages: str
    entries: str
    blocks: str
    inbox: str
    uploads: str = UPLOADS

    @classmethod
    def from_settings(cls, settings: Settings) -> Collections:
        return cls(
            images=settings.collection(IMAGES),
            rejections=settings.collection(REJECTIONS),
            packages=settings.collection(PACKAGES),
            entries=settings.collection(PACKAGE_ENTRIES),
            blocks=settings.collection(PACKAGE_BLOCKS),
            inbox=settings.collection(INBOX),
            uploads=settings.collection(UPLOADS),
        )


class CatalogueMapper:
    """The stored shape of a catalogue record (the fields docs/ingestion.md lists)."""

    def to_document(self, aggregate: CatalogueRecord) -> Document:
        return {
            "image_id": aggregate.id,
            "patient_token": aggregate.patient_token,
            "study_id": aggregate.study_id,
            "series_id": aggregate.series_id,
            "modality": aggregate.modality,
            "anatomical_region": aggregate.anatomical_region,
            "pathology": aggregate.pathology,
            "image_format": aggregate.image_format,
            "data_source": aggregate.data_source,
            "uri": aggregate.uri,
            "size": aggregate.size,
            "sha256": aggregate.sha256,
            "profile": aggregate.profile,
            "options": list(aggregate.options),
            "clinical_history_encrypted": aggregate.clinical_history_encrypted,
            "ingested_at": aggregate.ingested_at,
            "source_unit_id": aggregate.source_unit_id,
            "package_id": aggregate.package_id,
            "instance_key": aggregate.instance_key,
            "pixel_cleaning": (
                aggregate.pixel_cleaning.model_dump() if aggregate.pixel_cleaning else None
            ),
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> CatalogueRecord:
        return CatalogueRecord(
            id=aggregate_id,
            version=version,
            patient_token=str(document["patient_token"]),
            study_id=str(document["study_id"]),
            series_id=str(document["series_id"]),
            data_source=str(document["data_source"]),
            uri=str(document["uri"]),
            size=int(document["size"]),
            sha256=str(document["sha256"]),
            ingested_at=str(document["ingested_at"]),
            profile=str(document.get("profile") or ""),
            source_unit_id=str(document.get("source_unit_id") or ""),
            modality=document.get("modality"),
            anatomical_region=document.get("anatomical_region"),
            pathology=document.get("pathology"),
            image_format=document.get("image_format"),
            options=list(document.get("options") or []),
            clinical_history_encrypted=document.get("clinical_history_encrypted"),
            package_id=document.get("package_id"),
            instance_key=document.get("instance_key"),
            pixel_cleaning=(
                PixelCleaningSummary.model_validate(document["pixel_cleaning"])
                if document.get("pixel_cleaning")
                else None
            ),
        )


class IngestionUnitOfWork(UnitOfWork):
    """The catalogue repository, the raw transaction for progress documents, and the events
    handlers record outside an aggregate (rejections, package completion)."""

    def __init__(self, tx: DocumentTransaction, collections: Collections) -> None:
        super().__init__(tx)
        self.collections = collections
        self.images = AggregateRepository(tx, collections.images, CatalogueMapper())
        self.events: list[Event] = []

    def stage_changes(self) -> list[Any]:
        events, self.events = self.events, []
        return [*super().stage_changes(), *events]


def entry_doc_id(package_id: str, index: int) -> str:
    return f"{package_id}-{index:06d}"
