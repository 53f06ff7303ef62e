"""The expert's review as steps that do work no transaction should hold: an exclusion
reads the frozen manifest and writes its new version (outside any transaction, like the
prepare: delivery.py), then hands the processor the command, whose handler swaps the
service's manifest for the version written for that very command; an approval is
recorded, then a start it released is delivered (DeliveryService.start).

Idempotent like the rest: a version's id and its chunk documents are derived from the
command, so a redelivered exclusion writes the same documents again and is then a
duplicate for the processor; a released start has an id derived from the approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.data_services import review
from functions.data_services.datasets import CHUNK_SIZE, ManifestEntry
from functions.data_services.delivery import DeliveryService
from functions.data_services.domain import DataService, DataServiceError
from functions.data_services.messages import (
    NAMES,
    ApproveDataset,
    ExcludeImages,
    StartDataService,
    Status,
)
from functions.data_services.unit_of_work import (
    Collections,
    load_service,
    read_chunk,
    write_chunks,
)
from shared.domain.clock import Clock, rfc3339
from shared.logging import get_logger
from shared.ports.documents import DocumentStore
from shared.ports.envelope import Envelope, derived_id
from shared.service.processing import MessageProcessor

log = get_logger(__name__)


def revision_doc_id(data_service_id: str, command_id: str) -> str:
    """Where the version an exclusion command wrote is described (manifests collection)."""
    return derived_id(data_service_id, "revision", command_id)


def revision_manifest_id(data_service_id: str, command_id: str) -> str:
    return derived_id(data_service_id, "manifest", "revision", command_id)


def manifest_entries(
    store: DocumentStore, collections: Collections, manifest_id: str, chunks: int
) -> list[ManifestEntry]:
    return [
        entry
        for index in range(chunks)
        for entry in read_chunk(store, collections, manifest_id, index)
    ]


@dataclass
class ReviewService:
    store: DocumentStore
    processor: MessageProcessor[Any, Any]
    delivery: DeliveryService
    collections: Collections
    clock: Clock
    chunk_size: int = CHUNK_SIZE

    # -- exclusions ---------------------------------------------------------------------------
    def exclude(self, envelope: Envelope) -> str:
        command = envelope.payload
        assert isinstance(command, ExcludeImages)
        service = self._service(command.data_service_id)
        if (
            service is not None
            and service.status is Status.EXPERT_ASSIGNED
            and service.manifest is not None
            and service.approved_at is None
            and self._to_write(service, envelope.id)
        ):
            self._revise(service, command, envelope.id)
        return self.processor.process(envelope).outcome

    def _to_write(self, service: DataService, command_id: str) -> bool:
        """Whether this command's version is still to write: none yet, or one written over
        a version another exclusion replaced since (never one that is applied)."""
        assert service.manifest is not None
        header = self.store.get(self.collections.manifests, revision_doc_id(service.id, command_id))
        current = service.manifest.manifest_id
        return header is None or current not in (
            header.get("previous_manifest_id"),
            header.get("manifest_id"),
        )

    def _revise(self, service: DataService, command: ExcludeImages, command_id: str) -> None:
        """Write the version without the excluded images, then its header (the handler
        swaps the manifest for the header of its own command). A rule the exclusion breaks
        (unknown ids, nothing left) is written into the header for the handler to refuse."""
        current = service.manifest
        assert current is not None
        entries = manifest_entries(self.store, self.collections, current.manifest_id,
                                   current.chunks)  # fmt: skip
        header: dict[str, Any] = {
            "data_service_id": service.id,
            "for_command": command_id,
            "previous_manifest_id": current.manifest_id,
            "reason": command.reason,
            "note": command.note,  # the expert's words: stored here only
            "excluded_ids": sorted(set(command.image_ids)),
            "resolved_at": rfc3339(self.clock()),
        }
        try:
            kept = review.kept_entries(entries, command.image_ids)
        except DataServiceError as refused:
            header["refused"] = {
                "reason": refused.reason,
                "detail": refused.detail,
                "field": refused.field,
            }
        else:
            manifest = review.manifest_of(kept)
            manifest_id = revision_manifest_id(service.id, command_id)
            chunks = list(manifest.chunks(self.chunk_size))
            write_chunks(self.store, self.collections, service.id, manifest_id, chunks)
            summary = review.summary_of(manifest, manifest_id, len(chunks))
            header |= {
                "manifest_id": manifest_id,
                "images": summary.images,
                "patients": summary.patients,
                "chunks": summary.chunks,
                "bytes": summary.bytes,
                "splits": summary.splits,
                "digest": summary.digest,
                "excluded": len(entries) - len(kept),
            }
        key = revision_doc_id(service.id, command_id)
        collection = self.collections.manifests
        self.store.run_in_transaction(lambda tx: tx.put(collection, key, header))
        log.info("dataset_revised", data_service_id=service.id, refused="refused" in header)

    # -- approval -----------------------------------------------------------------------------
    def approve(self, envelope: Envelope) -> str:
        """Record the approval; a start it released is then delivered, with an id derived
        from the approval (a redelivered approval releases the same start)."""
        command = envelope.payload
        assert isinstance(command, ApproveDataset)
        outcome = self.processor.process(envelope).outcome
        service = self._service(command.data_service_id)
        released = (
            service is not None
            and service.approved_at is not None
            and service.start_requested_at is not None
            and service.status in (Status.EXPERT_ASSIGNED, Status.STARTED)
        )
        if released:
            start = Envelope(
                payload=StartDataService(data_service_id=command.data_service_id),
                source=NAMES.source,
                id=derived_id(envelope.id, "start"),
                correlation_id=envelope.correlation_id,
                causation_id=envelope.id,
            )
            self.delivery.start(start)
        return outcome

    def _service(self, service_id: str) -> DataService | None:
        return load_service(self.store, self.collections, service_id)
