"""The ingestion pipeline: one upload, or one entry of a package, from bytes to catalogue.

Steps for one unit of work: read the source as a seekable, ranged stream; de-identify it
(the engine in deid/); look the instance up in the catalogue (the record's aggregate decides
what a second arrival is); store the output create-only under its anonymized ids (a 412 on
a redelivery means it is there already: the digest stored beside it must match); record it
in the catalogue through the idempotent MessageProcessor (inbox id = the unit's id, derived
from bucket/name/generation); and only then delete the original. A unit that cannot be
ingested is kept byte for byte in the quarantine bucket with `<name>.reason.json` beside it
and recorded as rejected, also before the original goes. A crash at any point is completed
by the redelivery, which finds each step done and moves on.

A zip package fans out: its central directory is read, a package record written, and one
IngestPackageEntryV2 command per entry published (naming the package by its id), so the
entries spread over many instances. The entry that completes the package announces
StudyIngested and deletes the zip.

Memory stays bounded by the header and a few chunks whatever the size: the source is read in
ranges (the engine streams the pixels of a stream it cannot map), the output spills to a
temporary file beyond OUTPUT_SPOOL_BYTES, and the store uploads it in chunks.
"""

from __future__ import annotations

import contextlib
import json
import queue
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from functions.ingestion.deid import Deidentifier, DeidResult
from functions.ingestion.domain import (
    CONFLICT_REASON,
    UNKNOWN_CENTER,
    Arrival,
    CatalogueRecord,
    Descriptors,
    IngestionLimits,
    Upload,
    anonymized_name,
    instance_key,
    quarantine_name,
    reason_name,
)
from functions.ingestion.field_crypto import FieldCipher
from functions.ingestion.messages import (
    NAMES,
    CatalogueImage,
    DiscardQuarantined,
    ImageAnonymized,
    IngestPackageEntry,
    IngestPackageEntryV2,
    PixelCleaningSummary,
    RecordRejection,
    RecordRelease,
    ReleaseQuarantined,
)
from functions.ingestion.package_progress import EntryTarget, PackageProgress, entry_commands
from functions.ingestion.package_reader import (
    PackageRefused,
    copy_member,
    count_entries,
    extract_entry,
    raw_member,
)
from functions.ingestion.unit_of_work import CatalogueMapper, Collections, IngestionUnitOfWork
from shared.config import Settings
from shared.domain.clock import Clock, rfc3339
from shared.domain.messages import Message
from shared.logging import get_logger
from shared.ports.blobs import BlobExists, BlobInfo, BlobNotFound, BlobStore
from shared.ports.documents import VERSION_FIELD, Document, DocumentStore, Filter
from shared.ports.envelope import Envelope, derived_id
from shared.ports.publishing import EventPublisher
from shared.service.processing import MessageProcessor, OutboxEntry, Processed, inbox_id

log = get_logger(__name__)

# Outputs up to this size are built in memory; larger ones spill to a temporary file
# (the input is always read in place, never copied).
OUTPUT_SPOOL_BYTES = 8 * 1024 * 1024
PUBLISH_BATCH = 500
# How many (center, study) pairs an instance remembers as held (~200 bytes each).
HELD_STUDIES = 10_000
# Logical buckets (Settings.bucket() adds the prefix).
INGEST_BUCKET = "ingest"
ANONYMIZED_BUCKET = "anonymized"
QUARANTINE_BUCKET = "quarantine"
# Keeps what a unit came from at quarantine/<name>; says what it kept, for the report.
Keep = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True)
class Unit:
    """One object to ingest: a single upload or one entry of a package."""

    unit_id: str
    center_id: str
    descriptors: Descriptors
    source: Upload
    correlation_id: str
    package_id: str | None = None
    entry_index: int | None = None


@dataclass
class IngestionService:
    settings: Settings
    blobs: BlobStore
    store: DocumentStore
    publisher: EventPublisher
    processor: MessageProcessor[IngestionUnitOfWork, Any]
    cipher: FieldCipher
    collections: Collections
    key: bytes
    clock: Clock
    limits: IngestionLimits = field(default_factory=IngestionLimits)
    # The engine caches UID mappings and is not thread-safe: each request borrows one from
    # a pool (a threaded server starts a thread per request, so per-thread engines would be
    # built, and their caches lost, on every file).
    _engines: queue.SimpleQueue[Deidentifier] = field(default_factory=queue.SimpleQueue)
    # (center, platform-wide study UID) pairs this instance saw catalogued: a center that
    # holds a study holds it for good (catalogue records are never deleted), so the
    # study's later images on this instance need no look-up at all.
    _held: set[tuple[str, str]] = field(default_factory=set)
    progress: PackageProgress = field(init=False)

    def __post_init__(self) -> None:
        self.progress = PackageProgress(
            self.store, self.processor, self.blobs, self.collections, self.clock
        )

    @contextlib.contextmanager
    def deidentifier(self) -> Iterator[Deidentifier]:
        try:
            engine = self._engines.get_nowait()
        except queue.Empty:
            engine = Deidentifier(key=self.key)
        try:
            yield engine
        finally:
            self._engines.put(engine)

    @property
    def ingest_bucket(self) -> str:
        return self.settings.bucket(INGEST_BUCKET)

    # -- an upload ------------------------------------------------------------------------
    def ingest_upload(self, upload: Upload) -> str:
        """Handle one finalized object of the ingest bucket; returns what became of it."""
        if upload.bucket != self.ingest_bucket:
            return "ignored"
        if upload.is_package and self.replay(upload.unit_id):
            self._remove_original(upload)  # a refused package, recorded already
            return "duplicate"
        unit = Unit(
            unit_id=upload.unit_id,
            center_id=upload.center_id or UNKNOWN_CENTER,
            descriptors=upload.descriptors,
            source=upload,
            correlation_id=upload.unit_id,
        )
        refusal = self.refusal(upload, upload.center_id)
        if refusal is not None:
            return self._refuse_upload(unit, *refusal)
        if upload.is_package:
            return self._fan_out(unit)
        try:
            # No inbox lookup first: a redelivery usually finds the original deleted (and
            # replays the record then); one that finds it still there (a crash before the
            # delete, a racing duplicate) redoes the work, meets its own output (same
            # digest) and its own inbox record, and publishes the same event again.
            source = self.blobs.open_read(
                upload.bucket, upload.name, generation=upload.generation, size=upload.size
            )
        except BlobNotFound:
            return self._original_gone(upload)
        with source:
            outcome = self.ingest(unit, source, self._copy_original(upload))
        self._remove_original(upload)
        return outcome

    def refusal(self, source: Upload, center_id: str | None) -> tuple[str, str] | None:
        """Why a source (an upload, or an archived object) is quarantined unread, if it is."""
        if center_id is None:
            return "missing_center", "name is not <center_id>/..."
        if source.too_large(self.limits):
            return "too_large", "object over the size limit"
        return None

    def _copy_original(self, upload: Upload) -> Keep:
        def keep(bucket: str, name: str) -> dict[str, Any]:
            self.blobs.copy(
                upload.bucket, upload.name, bucket, name, src_generation=upload.generation
            )
            return {"kept": "the uploaded object, byte for byte"}

        return keep

    def _refuse_upload(self, unit: Unit, reason: str, detail: str) -> str:
        try:
            outcome = self.quarantine(unit, reason, detail, self._copy_original(unit.source))
        except BlobNotFound:
            return self._original_gone(unit.source)
        self._remove_original(unit.source)
        return outcome

    def _original_gone(self, upload: Upload) -> str:
        # Another delivery finished it (and deleted the original) while this one ran.
        if self.replay(upload.unit_id):
            return "duplicate"
        log.warning("original_missing", unit_id=upload.unit_id)
        return "missing"

    def _remove_original(self, upload: Upload) -> None:
        self.blobs.delete(upload.bucket, upload.name, generation=upload.generation)

    # -- one unit -------------------------------------------------------------------------
    def ingest(self, unit: Unit, source: BinaryIO | IO[bytes], keep: Keep) -> str:
        """De-identify, store and catalogue one unit, or quarantine it with `keep`. Public for
        sources other than an upload (the archive backfill), which take the same steps."""
        start = source.tell()
        with tempfile.SpooledTemporaryFile(max_size=OUTPUT_SPOOL_BYTES) as output:
            result = self._deidentify(unit, source, output)
            if not _complete(result):
                reason = result.reason.value if result.reason else "invalid_dataset"
                return self.quarantine(unit, reason, result.detail, keep)
            # The platform-wide id: the same whichever center sends the instance.
            link = instance_key(self.key, str(result.sop_instance_uid))
            bucket = self.settings.bucket(ANONYMIZED_BUCKET)
            uri = f"gs://{bucket}/{self._output_name(result)}"
            existing = self._catalogued(str(result.sop_instance_uid))
            referral = (
                existing is not None
                and existing.arrival(unit.center_id, str(result.sha256), uri) is Arrival.REFERRAL
            )
            study = str(result.study_uid)
            scoped = referral or self._study_elsewhere(study, unit.center_id)
            if scoped:
                # Another center sent this instance (or its study) first: this center's copy
                # is its own image, under UIDs keyed to this center, so neither center can
                # tell, neither blocks the other, the whole study stays one study for this
                # center, and the instance key keeps datasets from counting it twice
                # (docs/decisions/0013-referrals.md).
                self._discard_output(bucket, self._output_name(result), str(result.sha256))
                source.seek(start)
                output.seek(0)
                output.truncate()
                result = self._deidentify(unit, source, output, scoped=True)
                if not _complete(result):
                    reason = result.reason.value if result.reason else "invalid_dataset"
                    return self.quarantine(unit, reason, result.detail, keep)
                uri = f"gs://{bucket}/{self._output_name(result)}"
                existing = self._catalogued(str(result.sop_instance_uid))
            name = self._output_name(result)
            if existing is not None:
                arrival = existing.arrival(unit.center_id, str(result.sha256), uri)
                if arrival.is_conflict:
                    if uri != existing.uri:
                        # Ours, from an attempt that lost a race: no orphan stays behind.
                        self._discard_output(bucket, name, str(result.sha256))
                    return self.quarantine(unit, CONFLICT_REASON, arrival.detail, keep)
                # The same file again: its output is stored already, its record stays.
            else:
                output.seek(0)
                try:
                    self.blobs.write(
                        bucket, name, output,  # type: ignore[arg-type]
                        content_type="application/dicom", metadata={"sha256": str(result.sha256)},
                    )  # fmt: skip
                except BlobExists:
                    stored = self.blobs.stat(bucket, name)
                    if stored is None or stored.metadata.get("sha256") != result.sha256:
                        detail = "other content is stored under the same anonymized ids"
                        return self.quarantine(unit, CONFLICT_REASON, detail, keep)
        command = self._catalogue_command(unit, result, uri).model_copy(
            update={"instance_key": link}
        )
        processed = self._record(unit, command)
        if not scoped and processed.reason is None:
            self._hold(unit.center_id, study)
        return "anonymized" if ImageAnonymized.TYPE in processed.event_types else "unchanged"

    def _deidentify(
        self, unit: Unit, source: BinaryIO | IO[bytes], output: IO[bytes], *, scoped: bool = False
    ) -> DeidResult:
        with self.deidentifier() as engine:
            return engine.deidentify(
                source,  # type: ignore[arg-type]
                center_id=unit.center_id,
                output=output,  # type: ignore[arg-type]
                uid_scope=unit.center_id if scoped else "",
            )

    @staticmethod
    def _output_name(result: DeidResult) -> str:
        return anonymized_name(
            str(result.patient_token), str(result.study_uid), str(result.series_uid),
            str(result.sop_instance_uid),
        )  # fmt: skip

    def _catalogue_command(self, unit: Unit, result: DeidResult, uri: str) -> CatalogueImage:
        history = unit.descriptors.clinical_history
        image_id = str(result.sop_instance_uid)
        return CatalogueImage(
            image_id=image_id,
            unit_id=unit.unit_id,
            patient_token=str(result.patient_token),
            study_id=str(result.study_uid),
            series_id=str(result.series_uid),
            modality=result.modality,
            anatomical_region=unit.descriptors.anatomical_region or result.body_part,
            pathology=unit.descriptors.pathology,
            image_format=result.image_format,
            data_source=unit.center_id,
            uri=uri,
            size=result.size,
            sha256=str(result.sha256),
            profile=result.provenance.profile,
            options=list(result.provenance.options),
            clinical_history_encrypted=(
                self.cipher.encrypt(history, image_id) if history else None
            ),
            package_id=unit.package_id,
            entry_index=unit.entry_index,
            pixel_cleaning=_cleaning_summary(result),
        )

    def _catalogued(self, image_id: str) -> CatalogueRecord | None:
        document = self.store.get(self.collections.images, image_id)
        if document is None:
            return None
        version = int(document.pop(VERSION_FIELD, 0))
        return CatalogueMapper().from_document(image_id, document, version)

    def _study_elsewhere(self, study_uid: str, center_id: str) -> bool:
        """Whether the study (platform-wide UID) is held by another center and not by this
        one: then this center's images of it all take its own UIDs, the ones the other
        center holds (referrals) and the ones it does not alike. Counts of at most one
        record, one read each: a new study (a single image's, a study's first) stops at the
        first; a study this instance saw the center hold needs none."""
        if (center_id, study_uid) in self._held:
            return False
        images, study = self.collections.images, Filter("study_id", "==", study_uid)
        if not self.store.count(images, [study], up_to=1):
            return False
        if self.store.count(images, [study, Filter("data_source", "==", center_id)], up_to=1):
            self._hold(center_id, study_uid)
            return False
        return True

    def _hold(self, center_id: str, study_uid: str) -> None:
        if len(self._held) >= HELD_STUDIES:  # bounded: forget all, re-learn what is current
            self._held.clear()
        self._held.add((center_id, study_uid))

    def _discard_output(self, bucket: str, name: str, sha256: str) -> None:
        stored = self.blobs.stat(bucket, name)
        if stored is not None and stored.metadata.get("sha256") == sha256:
            self.blobs.delete(bucket, name, generation=stored.generation)

    def quarantine(self, unit: Unit, reason: str, detail: str, keep: Keep) -> str:
        """Keep the unit's bytes (through `keep`) with its reason, and record the refusal."""
        bucket = self.settings.bucket(QUARANTINE_BUCKET)
        name = quarantine_name(unit.center_id, unit.unit_id)
        kept = keep(bucket, name)
        # Beside the object, for the people who review quarantine (who see the original
        # anyway): where it came from, what is kept, and why it is here.
        report = {
            "rejection_id": unit.unit_id,
            "reason": reason,
            "detail": detail,
            "center_id": unit.center_id,
            "source": {
                "bucket": unit.source.bucket,
                "name": unit.source.name,
                "generation": unit.source.generation,
            },
            "package_id": unit.package_id,
            "entry_index": unit.entry_index,
            **kept,
            "quarantined_at": rfc3339(self.clock()),
        }
        self.blobs.write(
            bucket, reason_name(name), json.dumps(report, indent=2).encode(),
            create_only=False, content_type="application/json",
        )  # fmt: skip
        self._record(
            unit,
            RecordRejection(
                rejection_id=unit.unit_id,
                data_source=unit.center_id,
                reason=reason,
                detail=detail[:300],
                quarantine_uri=f"gs://{bucket}/{kept.get('quarantine_object', name)}",
                package_id=unit.package_id,
                entry_index=unit.entry_index,
            ),
        )
        log.info("unit_quarantined", unit_id=unit.unit_id, reason=reason)
        return "rejected"

    def _record(self, unit: Unit, payload: Message) -> Processed:
        return self.processor.process(
            Envelope(
                payload=payload,
                source=NAMES.source,
                id=unit.unit_id,
                correlation_id=unit.correlation_id,
            )
        )

    def replay(self, unit_id: str) -> bool:
        """If the unit was recorded already, publish its recorded events again (same ids:
        the earlier publish may have failed after the commit)."""
        record = self.store.get(self.collections.inbox, inbox_id(unit_id))
        if record is None:
            return False
        self.processor.publish([OutboxEntry.from_document(e) for e in record.get("outbox", [])])
        return True

    # -- an operator's review of quarantine -----------------------------------------------
    def release_quarantined(self, envelope: Envelope) -> str:
        """ReleaseQuarantined: run the pipeline again on the copy quarantine kept, as the
        center's own upload (under a unit id derived from the rejection, so a redelivery is
        the same unit); then record the review and remove the kept copy."""
        command = envelope.payload
        assert isinstance(command, ReleaseQuarantined)
        if self.replay(envelope.id):
            return "duplicate"
        rejection = self.store.get(self.collections.rejections, command.rejection_id)
        kept = self._kept(rejection)
        if (
            rejection is None or rejection.get("review") or kept is None
            or rejection.get("data_source") == UNKNOWN_CENTER
        ):  # fmt: skip
            # Refused in the processor with its reason (handlers.refuse_release).
            return f"refused:{self.processor.process(envelope).reason}"
        center = str(rejection["data_source"])
        source = Upload(
            kept.bucket, kept.name, kept.generation, kept.size,
            content_type=kept.content_type or "", metadata=dict(kept.metadata),
        )  # fmt: skip
        unit = Unit(
            unit_id=derived_id(command.rejection_id, "release"),
            center_id=center,
            descriptors=source.descriptors,
            source=source,
            correlation_id=envelope.correlation_id,
        )
        stream = self.blobs.open_read(
            kept.bucket, kept.name, generation=kept.generation, size=kept.size
        )
        with stream:
            outcome = self.ingest(unit, stream, self._copy_original(source))
        processed = self.processor.process(
            Envelope(
                payload=RecordRelease(
                    rejection_id=command.rejection_id, released_as=unit.unit_id, outcome=outcome
                ),
                source=NAMES.source,
                id=envelope.id,
                correlation_id=envelope.correlation_id,
            )
        )
        if processed.reason is None:
            self._remove_kept(command.rejection_id, center, kept)
        log.info("quarantine_released", rejection_id=command.rejection_id, outcome=outcome)
        return f"released:{outcome}"

    def discard_quarantined(self, envelope: Envelope) -> str:
        """DiscardQuarantined: record the review, then delete the kept copy (a redelivery
        after the record deletes it again, if it is still there)."""
        command = envelope.payload
        assert isinstance(command, DiscardQuarantined)
        rejection = self.store.get(self.collections.rejections, command.rejection_id)
        kept = self._kept(rejection)
        if self.replay(envelope.id):
            processed_reason = None
        else:
            processed_reason = self.processor.process(envelope).reason
        if processed_reason is not None:
            return f"refused:{processed_reason}"
        if rejection is not None and kept is not None:
            self._remove_kept(command.rejection_id, str(rejection["data_source"]), kept)
        log.info("quarantine_discarded", rejection_id=command.rejection_id)
        return "discarded"

    def _kept(self, rejection: Document | None) -> BlobInfo | None:
        """The copy quarantine kept of a rejection, if it is still there."""
        if rejection is None:
            return None
        uri = str(rejection.get("quarantine_uri") or "")
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if not name or bucket != self.settings.bucket(QUARANTINE_BUCKET):
            return None
        return self.blobs.stat(bucket, name)

    def _remove_kept(self, rejection_id: str, center: str, kept: BlobInfo) -> None:
        # Only the rejection's own copy: a whole package kept once for all its entries
        # (<center>/<package_id>.zip) stays for the other entries' review.
        own = quarantine_name(center, rejection_id)
        if kept.name != own:
            return
        self.blobs.delete(kept.bucket, kept.name, generation=kept.generation)
        self.blobs.delete(kept.bucket, reason_name(own))

    # -- packages -------------------------------------------------------------------------
    def _fan_out(self, unit: Unit) -> str:
        upload = unit.source
        try:
            stream = self.blobs.open_read(upload.bucket, upload.name, generation=upload.generation)
        except BlobNotFound:
            return self._original_gone(upload)
        try:
            with stream:
                count = count_entries(stream, self.limits)
        except PackageRefused as refused:
            return self._refuse_upload(unit, refused.reason, refused.detail)
        package_id = unit.unit_id
        self.progress.start(package_id, upload, count, unit.center_id)
        commands = entry_commands(package_id, count)
        for start in range(0, len(commands), PUBLISH_BATCH):
            self.publisher.publish(NAMES.commands_topic, commands[start : start + PUBLISH_BATCH])
        log.info("package_fanned_out", package_id=package_id, entries=count)
        return "fanned_out"

    def ingest_entry_v2(self, envelope: Envelope) -> str:
        """IngestPackageEntryV2: the package is named by its id; its record says where."""
        command = envelope.payload
        assert isinstance(command, IngestPackageEntryV2)
        target = self.progress.target(command)
        if target is None:
            # The record is written before any entry command is published, so a command
            # without one names a package that never existed: refused with its reason.
            processed = self.processor.process(envelope)
            return f"refused:{processed.reason}"
        return self._ingest_target(envelope, target)

    def ingest_entry(self, envelope: Envelope) -> str:
        """IngestPackageEntry v1 (no longer published): drains what is still in flight."""
        command = envelope.payload
        assert isinstance(command, IngestPackageEntry)
        return self._ingest_target(envelope, EntryTarget.from_v1(command))

    def _ingest_target(self, envelope: Envelope, target: EntryTarget) -> str:
        if self.replay(envelope.id):
            self.progress.check_completion(target)
            return "duplicate"
        upload = Upload(target.bucket, target.name, target.generation, 0)
        info = self.blobs.stat(target.bucket, target.name)
        unit = Unit(
            unit_id=envelope.id,
            center_id=target.center_id,
            descriptors=Descriptors.from_metadata(info.metadata if info else {}),
            source=upload,
            correlation_id=envelope.correlation_id,
            package_id=target.package_id,
            entry_index=target.entry_index,
        )
        if info is None or info.generation != target.generation:
            # Only a replaced or removed package gets here: record it so the package ends.
            outcome = self.quarantine(unit, "source_missing", "package is gone", _keep_nothing)
        else:
            outcome = self._ingest_entry(unit, target, info.size)
        self.progress.check_completion(target)
        return outcome

    def _ingest_entry(self, unit: Unit, target: EntryTarget, size: int) -> str:
        # The size from the stat above: a small package is then read in one request.
        stream = self.blobs.open_read(
            target.bucket, target.name, generation=target.generation, size=size
        )
        with stream:
            try:
                entry = extract_entry(stream, target.entry_index, self.limits)
            except PackageRefused as refused:
                keep = self._keep_member(stream, unit, target)
                return self.quarantine(unit, refused.reason, refused.detail, keep)
        with entry:

            def keep_entry(bucket: str, name: str) -> dict[str, Any]:
                entry.seek(0)
                self.blobs.write(bucket, name, entry, create_only=False)  # type: ignore[arg-type]
                return {"kept": "the entry as inflated from the package, byte for byte"}

            return self.ingest(unit, entry, keep_entry)

    def _keep_member(self, stream: BinaryIO, unit: Unit, target: EntryTarget) -> Keep:
        """Keep a refused entry as it sits in the package (never its inflation, which may be
        unbounded); when the package cannot say where it sits, the whole package, once."""

        def keep(bucket: str, name: str) -> dict[str, Any]:
            member = raw_member(stream, target.entry_index)
            if member is None:
                whole = quarantine_name(unit.center_id, f"{target.package_id}.zip")
                self.blobs.copy(
                    target.bucket, target.name, bucket, whole, src_generation=target.generation
                )
                return {
                    "kept": "the whole package, byte for byte",
                    "quarantine_object": whole,
                }
            with tempfile.SpooledTemporaryFile(max_size=OUTPUT_SPOOL_BYTES) as raw:
                copy_member(stream, member, raw)
                raw.seek(0)
                self.blobs.write(
                    bucket, name, raw,  # type: ignore[arg-type]
                    create_only=False, content_type="application/octet-stream",
                )  # fmt: skip
            return {
                "kept": "the entry's local header and compressed bytes, verbatim",
                "member": member.report(),
            }

        return keep


def _complete(result: DeidResult) -> bool:
    return bool(
        result.ok and result.patient_token and result.study_uid and result.series_uid
        and result.sop_instance_uid and result.sha256
    )  # fmt: skip


def _keep_nothing(bucket: str, name: str) -> dict[str, Any]:
    return {"kept": "nothing: the package was replaced or removed before this entry ran"}


def _cleaning_summary(result: DeidResult) -> PixelCleaningSummary | None:
    """The engine's record of what it did to the pixels, as the catalogue and event carry it."""
    if result.pixel_cleaning is None:
        return None
    done = result.pixel_cleaning.as_dict()
    return PixelCleaningSummary.model_validate(
        {k: v for k, v in done.items() if k in PixelCleaningSummary.model_fields}
    )
