"""Progress of a zip package (a study): its record, its entry commands, its completion.

The package record holds where the zip is stored (bucket, name, generation): entry commands
name the package by its id only, so the object name (which may hold a patient's name) never
travels on a topic. No document is written by every entry: each entry's own record (written
with its catalogue record) is the progress. Completion is checked by blocks
(domain.COMPLETION_BLOCK): an entry counts the entries of its block (a count() aggregation:
one read, not one per entry); the entry that completes a block writes a block marker and
counts the markers; the one that sees every block issues
CompletePackage with a derived id, so racing finishers give one record and one
StudyIngested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.ingestion import domain
from functions.ingestion.domain import Upload, block_count, block_of, block_size, entry_unit_id
from functions.ingestion.messages import (
    NAMES,
    CompletePackage,
    IngestPackageEntry,
    IngestPackageEntryV2,
)
from functions.ingestion.unit_of_work import Collections, IngestionUnitOfWork, entry_doc_id
from shared.domain.clock import Clock, rfc3339
from shared.ports.blobs import BlobStore
from shared.ports.documents import DocumentStore, DocumentTransaction, Filter
from shared.ports.envelope import Envelope, derived_id
from shared.service.processing import MessageProcessor


@dataclass(frozen=True)
class EntryTarget:
    """One entry of one stored generation of a package: what an entry command resolves to."""

    package_id: str
    bucket: str
    name: str
    generation: int
    entry_index: int
    entry_count: int
    center_id: str

    @classmethod
    def from_v1(cls, command: IngestPackageEntry) -> EntryTarget:
        return cls(
            command.package_id, command.bucket, command.name, command.generation,
            command.entry_index, command.entry_count, command.center_id,
        )  # fmt: skip


def entry_commands(package_id: str, count: int) -> list[Envelope]:
    """One command per entry; ids derived from the package, so a fan-out done twice
    publishes the same commands (and their handlers' inboxes drop the second)."""
    return [
        Envelope(
            payload=IngestPackageEntryV2(package_id=package_id, entry_index=index),
            source=NAMES.source,
            id=entry_unit_id(package_id, index),
            correlation_id=package_id,
            causation_id=package_id,
        )
        for index in range(count)
    ]


@dataclass
class PackageProgress:
    store: DocumentStore
    processor: MessageProcessor[IngestionUnitOfWork, Any]
    blobs: BlobStore
    collections: Collections
    clock: Clock

    def start(self, package_id: str, upload: Upload, count: int, center_id: str) -> None:
        """Write the package record unless a previous delivery did."""
        record: dict[str, Any] = {
            "package_id": package_id,
            "data_source": center_id,
            "entry_count": count,
            "bucket": upload.bucket,
            # Read back by the entries; Firestore is not a topic, and the quarantine report
            # keeps the name the same way.
            "name": upload.name,
            "generation": upload.generation,
            "status": "ingesting",
            "created_at": rfc3339(self.clock()),
        }

        # The package as its center sees it (ids and counts only, never its name).
        seen = {
            "upload_id": package_id, "data_source": center_id, "kind": "package",
            "status": domain.UploadStatus.RECEIVED.value, "entry_count": count,
            "received_at": record["created_at"], "updated_at": record["created_at"],
        }  # fmt: skip

        def create_if_absent(tx: DocumentTransaction) -> None:
            existing = tx.get(self.collections.packages, package_id)
            if existing is None:
                tx.put(self.collections.packages, package_id, record)
                tx.put(self.collections.uploads, package_id, seen)
            elif not existing.get("name"):
                # Written by a v1 fan-out (no name): v2 entry commands resolve through it.
                tx.put(self.collections.packages, package_id, {**existing, "name": upload.name})

        self.store.run_in_transaction(create_if_absent)

    def target(self, command: IngestPackageEntryV2) -> EntryTarget | None:
        """Where the entry's package is stored, from its record (None: no such package)."""
        package = self.store.get(self.collections.packages, command.package_id)
        if package is None or not package.get("name"):
            return None
        return EntryTarget(
            package_id=command.package_id,
            bucket=str(package["bucket"]),
            name=str(package["name"]),
            generation=int(package["generation"]),
            entry_index=command.entry_index,
            entry_count=int(package["entry_count"]),
            center_id=str(package["data_source"]),
        )

    def check_completion(self, target: EntryTarget) -> None:
        """After an entry is recorded: announce the study if every entry is, then delete
        the zip (the original leaves only once everything it held is committed)."""
        c, package_id, count = self.collections, target.package_id, target.entry_count
        block = block_of(target.entry_index)
        # Counts, not reads of the documents: one read each (up to 1,000 counted).
        expected = block_size(block, count)
        done = self.store.count(
            c.entries,
            [Filter("package_id", "==", package_id), Filter("block", "==", block)],
            up_to=expected,
        )
        if done < expected:
            return
        blocks = block_count(count)
        if blocks > 1:
            marker = {"package_id": package_id, "block": block}
            self.store.run_in_transaction(
                lambda tx: tx.put(c.blocks, entry_doc_id(package_id, block), marker)
            )
            finished = self.store.count(
                c.blocks, [Filter("package_id", "==", package_id)], up_to=blocks
            )
            if finished < blocks:
                return
        entries = self.store.query(
            c.entries, [Filter("package_id", "==", package_id)], limit=count + 1
        ).items
        outcomes = [document.get("outcome") for _, document in entries]
        studies = sorted({str(d["study_id"]) for _, d in entries if d.get("study_id")})
        self.processor.process(
            Envelope(
                payload=CompletePackage(
                    package_id=package_id,
                    anonymized=outcomes.count("anonymized"),
                    rejected=outcomes.count("rejected"),
                    study_ids=studies,
                ),
                source=NAMES.source,
                id=derived_id(package_id, "complete"),
                correlation_id=package_id,
            )
        )
        self.blobs.delete(target.bucket, target.name, generation=target.generation)
