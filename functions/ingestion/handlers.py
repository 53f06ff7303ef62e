"""The catalogue's write side: handlers run by the idempotent MessageProcessor.

HANDLERS maps what the context consumes from its topics, each entry one Cloud Function, made
from it by entrypoints.py (named by the message: ingestion_ingest_package_entry_v2 for
IngestPackageEntryV2), and one filtered trigger subscription in infra/topology.yaml. Its
entries are Consumers of the pipeline, which reads and de-identifies an entry before anything
is recorded. IN_PROCESS_HANDLERS are what the pipeline then hands the processor in-process
(their commands never travel on a topic).

The heavy work (reading, de-identifying, storing objects) happens before, outside any
transaction; these handlers only record its result, in the same transaction as the inbox
record and the outbox, so one upload gives one record and one event however often it is
delivered. The catalogue record is an aggregate (domain.CatalogueRecord): a handler loads
it, lets it decide what an arrival is, and leaves saving to the unit of work; every time it
records comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.ingestion.domain import (
    UNKNOWN_CENTER,
    Arrival,
    CatalogueRecord,
    UploadStatus,
    block_of,
)
from functions.ingestion.messages import (
    CatalogueImage,
    CompletePackage,
    DiscardQuarantined,
    ImageRejected,
    IngestPackageEntry,
    IngestPackageEntryV2,
    QuarantineReviewed,
    RecordRejection,
    RecordRelease,
    ReleaseQuarantined,
    StudyIngested,
)
from functions.ingestion.pipeline import IngestionService
from functions.ingestion.unit_of_work import IngestionUnitOfWork, entry_doc_id
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import PermanentError, TransientError
from shared.domain.messages import Message
from shared.ports.documents import Document
from shared.service.processing import Consumer, MessageHandler


def _entry(package_id: str, index: int, outcome: str, **facts: Any) -> Document:
    return {
        "package_id": package_id,
        "entry_index": index,
        "block": block_of(index),
        "outcome": outcome,
        **facts,
    }


def _upload(upload_id: str, center: str, status: UploadStatus, at: str, **facts: Any) -> Document:
    """An upload's document for its center's view: ids, codes and counts, never a name."""
    return {
        "upload_id": upload_id, "data_source": center, "kind": "object",
        "status": status.value, "received_at": at, "updated_at": at, **facts,
    }  # fmt: skip


@dataclass(frozen=True)
class Dependencies:
    clock: Clock


class CatalogueChanged(TransientError):
    """Another upload catalogued this instance between the pipeline's look-up and this
    transaction, and the two differ. Retried: the redelivery sees the record and removes the
    output it wrote; then a conflict is quarantined with its reason, and another center's
    copy (a referral) is de-identified again under UIDs keyed to its center."""


def catalogue_image(command: CatalogueImage, uow: IngestionUnitOfWork, deps: Dependencies) -> None:
    """Record the image (original entity: ImagenAnonimizada) and announce it, once."""
    record = uow.images.get(command.image_id)
    if record is None:
        uow.images.add(CatalogueRecord.catalogue(command, deps.clock()))
    elif record.arrival(command.data_source, command.sha256, command.uri) is not Arrival.SAME:
        raise CatalogueChanged("the instance was catalogued by another upload meanwhile")
    # Otherwise the same file again: the record (and its descriptors) stays as it is.
    if command.package_id is None:
        status = UploadStatus.DUPLICATE if record is not None else UploadStatus.DEIDENTIFIED
        uow.tx.put(
            uow.collections.uploads, command.unit_id,
            _upload(command.unit_id, command.data_source, status, rfc3339(deps.clock()),
                    image_id=command.image_id, study_id=command.study_id),
        )  # fmt: skip
    if command.package_id is not None and command.entry_index is not None:
        uow.tx.put(
            uow.collections.entries,
            entry_doc_id(command.package_id, command.entry_index),
            _entry(
                command.package_id, command.entry_index, "anonymized",
                image_id=command.image_id, study_id=command.study_id,
                unchanged=record is not None,
            ),
        )  # fmt: skip


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
    if command.package_id is None:
        uow.tx.put(
            c.uploads, command.rejection_id,
            _upload(command.rejection_id, command.data_source, UploadStatus.QUARANTINED,
                    rejected_at, reason=command.reason, detail=command.detail[:300]),
        )  # fmt: skip
    uow.events.append(ImageRejected(**command.model_dump(), rejected_at=rejected_at))


def complete_package(
    command: CompletePackage, uow: IngestionUnitOfWork, deps: Dependencies
) -> None:
    c = uow.collections
    package = uow.tx.get(c.packages, command.package_id)
    if package is None:  # written before any entry command is published: wait for it
        raise TransientError("package record not visible yet")
    upload = uow.tx.get(c.uploads, command.package_id)  # Firestore: reads before writes
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
    if upload is not None:
        uow.tx.put(
            c.uploads, command.package_id,
            {**upload, "status": UploadStatus.COMPLETE.value, "updated_at": completed_at,
             "study_ids": command.study_ids},
        )  # fmt: skip
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


def _reviewable(uow: IngestionUnitOfWork, rejection_id: str) -> tuple[Document, Document | None]:
    """The rejection and its upload's document; refused if there is none or it was reviewed
    already (a second review of the same rejection is another command, not a retry)."""
    c = uow.collections
    rejection = uow.tx.get(c.rejections, rejection_id)
    if rejection is None:
        raise PermanentError("rejection_not_found", "no such quarantined upload")
    if rejection.get("review"):
        raise PermanentError("already_reviewed", f"already {rejection['review']}")
    return rejection, uow.tx.get(c.uploads, rejection_id)


def _review(
    uow: IngestionUnitOfWork, deps: Dependencies, rejection_id: str, review: UploadStatus,
    **facts: str,
) -> None:  # fmt: skip
    rejection, upload = _reviewable(uow, rejection_id)
    c = uow.collections
    at = rfc3339(deps.clock())
    uow.tx.put(
        c.rejections, rejection_id,
        {**rejection, "review": review.value, "reviewed_at": at, **facts},
    )  # fmt: skip
    if upload is not None:  # an upload of its own (not an entry of a package)
        uow.tx.put(
            c.uploads, rejection_id,
            {**upload, "status": review.value, "updated_at": at, **facts},
        )  # fmt: skip
    uow.events.append(
        QuarantineReviewed(
            rejection_id=rejection_id,
            data_source=str(rejection.get("data_source") or ""),
            review=review.value,
            reviewed_at=at,
            outcome=facts.get("outcome"),
            released_as=facts.get("released_as"),
        )
    )


def record_release(command: RecordRelease, uow: IngestionUnitOfWork, deps: Dependencies) -> None:
    """An operator's release, once its copy went through the pipeline again."""
    _review(
        uow, deps, command.rejection_id, UploadStatus.RELEASED,
        released_as=command.released_as, outcome=command.outcome,
    )  # fmt: skip


def refuse_release(
    command: ReleaseQuarantined, uow: IngestionUnitOfWork, deps: Dependencies
) -> None:
    """A release the pipeline could not start (no such rejection, reviewed already, or its
    copy is gone): refused with its reason, not retried."""
    rejection, _ = _reviewable(uow, command.rejection_id)
    if rejection.get("data_source") == UNKNOWN_CENTER:
        raise PermanentError("center_unknown", "the upload named no center to ingest it for")
    raise PermanentError("nothing_kept", "quarantine kept no copy of this upload to ingest")


def record_discard(
    command: DiscardQuarantined, uow: IngestionUnitOfWork, deps: Dependencies
) -> None:
    """An operator's discard: recorded before the kept copy is deleted."""
    _review(uow, deps, command.rejection_id, UploadStatus.DISCARDED)


def refuse_entry_of_unknown_package(
    command: IngestPackageEntryV2, uow: IngestionUnitOfWork, deps: Dependencies
) -> None:
    """An entry command whose package has no record: refused with a failure event, not
    retried into the dead-letter topic (the record is written before any entry command is
    published, so it will never appear)."""
    if uow.tx.get(uow.collections.packages, command.package_id) is None:
        raise PermanentError("unknown_package", "no package with that id", field="package_id")
    raise TransientError("the package record appeared: ingest the entry")


# Consumed from ingestion-commands. v1 stays until no v1 command is left in flight (see
# IngestPackageEntry).
HANDLERS: Mapping[type[Message], MessageHandler[IngestionUnitOfWork, Any]] = {
    IngestPackageEntry: Consumer(IngestionService.ingest_entry),
    IngestPackageEntryV2: Consumer(IngestionService.ingest_entry_v2),
    # An operator's review of quarantine (through ingestion_commands_http).
    ReleaseQuarantined: Consumer(IngestionService.release_quarantined),
    DiscardQuarantined: Consumer(IngestionService.discard_quarantined),
}
# Handed to the processor by the pipeline (an upload's or an entry's outcome, a package's
# end) and by ingest_entry_v2, for an entry of a package that has no record.
IN_PROCESS_HANDLERS: Mapping[type[Message], MessageHandler[IngestionUnitOfWork, Any]] = {
    CatalogueImage: catalogue_image,
    RecordRejection: record_rejection,
    CompletePackage: complete_package,
    IngestPackageEntryV2: refuse_entry_of_unknown_package,
    RecordRelease: record_release,
    ReleaseQuarantined: refuse_release,
    DiscardQuarantined: record_discard,
}
