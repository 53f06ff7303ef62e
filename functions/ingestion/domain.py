"""The ingestion domain: what an upload is, where its results go, and the catalogue record.

Pure Python: no I/O and no cloud imports. Object names of uploads may carry PHI (a file
called after the patient), so everything derived from them for events, logs and output
names goes through keyed or hashed ids instead.

The catalogue record (CatalogueRecord, original ImagenAnonimizada) is an aggregate keyed by
the anonymized SOP Instance UID. Its one rule is what a second arrival of the same instance
means (docs/ingestion.md, "Re-uploads"): the same file again changes nothing, not even its
descriptors; other content under the same UIDs from the same center is a conflict,
quarantined with its reason, and never touches the record; the same instance from another
center is a referral: that center's copy becomes its own image under UIDs keyed to it, linked
to the first only by a platform-internal instance key (docs/decisions/0013-referrals.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from functions.ingestion.messages import CatalogueImage, ImageAnonymized, PixelCleaningSummary
from shared.domain.aggregate import Aggregate
from shared.domain.clock import rfc3339
from shared.domain.errors import PermanentError
from shared.ports.envelope import derived_id

MiB = 1024 * 1024
GiB = 1024 * MiB
# Entries of a package are grouped in blocks: an entry checks only its block, and only the
# entry that completes a block checks the blocks, so completion costs O(block + blocks)
# reads instead of O(entries) per entry, with no document written by every entry.
COMPLETION_BLOCK = 64
_CENTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The center a unit is recorded under when its name names none (it is quarantined).
UNKNOWN_CENTER = "unknown-center"
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})
_CODE_MAX = 128
_HISTORY_MAX = 16_384


@dataclass(frozen=True)
class IngestionLimits:
    """Size limits; beyond them an upload is quarantined unread.

    Configurable per deployment with SALUDTECH_INGEST_MAX_FILE_BYTES, _MAX_ZIP_BYTES,
    _MAX_ENTRIES and _MAX_RATIO (see `from_environment`)."""

    max_file_bytes: int = 512 * MiB
    max_zip_bytes: int = 4 * GiB
    max_entries: int = 20_000
    max_ratio: float = 200.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> IngestionLimits:
        def value(name: str, default: float) -> float:
            raw = environ.get(f"SALUDTECH_INGEST_{name.upper()}", "").strip()
            return float(raw) if raw else default

        defaults = cls()
        return cls(
            max_file_bytes=int(value("max_file_bytes", defaults.max_file_bytes)),
            max_zip_bytes=int(value("max_zip_bytes", defaults.max_zip_bytes)),
            max_entries=int(value("max_entries", defaults.max_entries)),
            max_ratio=value("max_ratio", defaults.max_ratio),
        )


@dataclass(frozen=True)
class Descriptors:
    """The optional metadata a center attaches to an upload (custom object metadata)."""

    pathology: str | None = None
    anatomical_region: str | None = None
    clinical_history: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Descriptors:
        def code(key: str) -> str | None:
            value = str(metadata.get(key) or "").strip()
            return value[:_CODE_MAX].upper() or None

        history = str(metadata.get("clinical_history") or "").strip()[:_HISTORY_MAX]
        return cls(code("pathology"), code("anatomical_region"), history or None)


def center_of(name: str) -> str | None:
    """The health center of an object name: its first folder (`<center_id>/...`)."""
    head, slash, _ = name.partition("/")
    return head if slash and _CENTER.match(head) else None


@dataclass(frozen=True)
class Upload:
    """An object finalized in the ingest bucket: one DICOM file or a zip of a study."""

    bucket: str
    name: str
    generation: int
    size: int
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_event(cls, data: Any) -> Upload:
        """From the data of a `google.cloud.storage.object.v1.finalized` CloudEvent."""
        if not isinstance(data, Mapping):
            raise PermanentError("not_a_storage_object", "the event data is not an object")
        try:
            return cls(
                bucket=str(data["bucket"]),
                name=str(data["name"]),
                generation=int(data["generation"]),
                size=int(data.get("size") or 0),
                content_type=str(data.get("contentType") or ""),
                metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PermanentError("not_a_storage_object", "bucket, name or generation") from error

    @property
    def unit_id(self) -> str:
        """The idempotency key: one upload is one generation of one name."""
        return derived_id("gcs-object", self.bucket, self.name, str(self.generation))

    @property
    def center_id(self) -> str | None:
        """The health center: the first folder of the name (`<center_id>/...`)."""
        return center_of(self.name)

    @property
    def is_package(self) -> bool:
        return self.name.lower().endswith(".zip") or self.content_type in _ZIP_TYPES

    @property
    def descriptors(self) -> Descriptors:
        return Descriptors.from_metadata(self.metadata)

    def too_large(self, limits: IngestionLimits) -> bool:
        limit = limits.max_zip_bytes if self.is_package else limits.max_file_bytes
        return self.size > limit


def entry_unit_id(package_id: str, index: int) -> str:
    return derived_id(package_id, "entry", str(index))


def anonymized_name(patient_token: str, study: str, series: str, instance: str) -> str:
    return f"{patient_token}/{study}/{series}/{instance}.dcm"


def quarantine_name(center_id: str, unit_id: str) -> str:
    return f"{center_id}/{unit_id}"


def reason_name(quarantined: str) -> str:
    return f"{quarantined}.reason.json"


def block_of(index: int) -> int:
    return index // COMPLETION_BLOCK


def block_count(entry_count: int) -> int:
    return (entry_count + COMPLETION_BLOCK - 1) // COMPLETION_BLOCK


def block_size(block: int, entry_count: int) -> int:
    return min(COMPLETION_BLOCK, entry_count - block * COMPLETION_BLOCK)


class Arrival(StrEnum):
    """What an image arriving for an already catalogued instance is, to its record."""

    SAME = "same"  # the same center, the same anonymized bytes: nothing to do
    # Another center sent this instance first (a referral): not a conflict, and never told
    # to anyone; the pipeline de-identifies this center's copy again under UIDs keyed to it.
    REFERRAL = "referral"
    OTHER_CONTENT = "other_content"

    @property
    def is_conflict(self) -> bool:
        return self is Arrival.OTHER_CONTENT

    @property
    def detail(self) -> str:
        """A PHI-free explanation for the quarantine report and ImageRejected. Only a
        conflict has one: a referral is never explained (it would tell a center what
        another holds)."""
        return "other content is catalogued under the same UIDs" if self.is_conflict else ""


# Derives the instance key's own subkey from the de-identification key, so the key says
# nothing about UIDs or tokens (and they say nothing about it).
_INSTANCE_LABEL = b"saludtech-ingestion/v1/instance-link"


def instance_key(key: bytes, platform_uid: str) -> str:
    """The platform-internal link between every center's copy of one instance: a keyed hash
    of its platform-wide anonymized SOP Instance UID (itself a keyed hash of the original).
    Carried by ImageAnonymized so datasets keep one copy; never answered to a center or a
    buyer (the catalogue queries and dataset manifests leave it out)."""
    subkey = hmac.new(key, _INSTANCE_LABEL, hashlib.sha256).digest()
    return hmac.new(subkey, platform_uid.encode(), hashlib.sha256).hexdigest()[:32]


CONFLICT_REASON = "conflicting_image"


class UploadStatus(StrEnum):
    """What became of an upload, as its center sees it (GET /v1/uploads/<id>)."""

    RECEIVED = "received"  # a package whose entries are being ingested
    DEIDENTIFIED = "deidentified"  # catalogued as a new image
    DUPLICATE = "duplicate"  # the same file again: the record was there already
    QUARANTINED = "quarantined"  # kept with its reason, waiting for review
    RELEASED = "released"  # an operator had it ingested again from the kept original
    DISCARDED = "discarded"  # an operator deleted it from quarantine
    COMPLETE = "complete"  # a package every entry of which is done


UPLOAD_KINDS = ("object", "package")


@dataclass(kw_only=True, eq=False)
class CatalogueRecord(Aggregate):
    """One anonymized image in the catalogue; `id` is its anonymized SOP Instance UID."""

    patient_token: str
    study_id: str
    series_id: str
    data_source: str
    uri: str
    size: int
    sha256: str
    ingested_at: str
    profile: str
    source_unit_id: str
    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    image_format: str | None = None
    options: list[str] = field(default_factory=list)
    clinical_history_encrypted: str | None = None
    package_id: str | None = None
    pixel_cleaning: PixelCleaningSummary | None = None
    instance_key: str | None = None

    @classmethod
    def catalogue(cls, command: CatalogueImage, at: datetime) -> CatalogueRecord:
        """The first arrival of an instance: recorded and announced."""
        record = cls(
            id=command.image_id,
            patient_token=command.patient_token,
            study_id=command.study_id,
            series_id=command.series_id,
            data_source=command.data_source,
            uri=command.uri,
            size=command.size,
            sha256=command.sha256,
            ingested_at=rfc3339(at),
            profile=command.profile,
            source_unit_id=command.unit_id,
            modality=command.modality,
            anatomical_region=command.anatomical_region,
            pathology=command.pathology,
            image_format=command.image_format,
            options=list(command.options),
            clinical_history_encrypted=command.clinical_history_encrypted,
            package_id=command.package_id,
            pixel_cleaning=command.pixel_cleaning,
            instance_key=command.instance_key,
        )
        record.record(
            ImageAnonymized(
                image_id=record.id,
                patient_token=record.patient_token,
                study_id=record.study_id,
                series_id=record.series_id,
                modality=record.modality,
                anatomical_region=record.anatomical_region,
                pathology=record.pathology,
                image_format=record.image_format,
                data_source=record.data_source,
                uri=record.uri,
                size=record.size,
                sha256=record.sha256,
                ingested_at=record.ingested_at,
                package_id=record.package_id,
                pixel_cleaning=record.pixel_cleaning,
                instance_key=record.instance_key,
            )
        )
        return record

    def arrival(self, data_source: str, sha256: str, uri: str) -> Arrival:
        """What another arrival of this instance is. The record never changes because of
        one: descriptors come with the first upload (a re-upload without metadata must not
        wipe them, and one with other metadata is not a correction channel)."""
        if data_source != self.data_source:
            return Arrival.REFERRAL
        if sha256 != self.sha256 or uri != self.uri:
            return Arrival.OTHER_CONTENT
        return Arrival.SAME
