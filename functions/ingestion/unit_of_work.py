"""Where the ingestion context keeps its records: collections and the unit of work.

Catalogue records are plain read models (`put`), not versioned aggregates: a record is
written by one unit of work per image, never updated concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.domain.messages import Event
from shared.ports.documents import DocumentTransaction
from shared.service.unit_of_work import UnitOfWork

# Firestore collections (Settings.collection() adds the prefix).
IMAGES = "ingestion_images"  # the catalogue: one document per anonymized image
REJECTIONS = "ingestion_rejections"  # one document per quarantined object
PACKAGES = "ingestion_packages"  # one document per zip package (a study)
PACKAGE_ENTRIES = "ingestion_package_entries"  # one per entry done: no hot package document
PACKAGE_BLOCKS = "ingestion_package_blocks"  # one per completed block of entries
INBOX = "ingestion_inbox"


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
            images=settings.collection(IMAGES),
            rejections=settings.collection(REJECTIONS),
            packages=settings.collection(PACKAGES),
            entries=settings.collection(PACKAGE_ENTRIES),
            blocks=settings.collection(PACKAGE_BLOCKS),
            inbox=settings.collection(INBOX),
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
