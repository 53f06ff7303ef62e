"""Commands and events of the ingestion context: its message contract.

Nothing published carries PHI: object names of uploads may hold a patient's name, so
commands and events name objects by derived ids (a package by its id); clinical history
never leaves the catalogue, and there only encrypted.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.messages import Command, CommandRejected, Event
from shared.domain.read_models import ReadModel
from shared.service.context import ContextNames

_ID = Field(min_length=1, max_length=200)


class PixelCleaningSummary(BaseModel):
    """What was done to the pixels of an image that can carry burned-in text (never the
    text itself): how it was checked, how much was masked, and that the result was verified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str  # ocr_masked (text found, masked, verified) | ocr_no_text (pixels untouched)
    detector: str
    frames: int = Field(ge=0)
    frames_checked: int = Field(ge=0)
    regions_masked: int = Field(ge=0)
    masked_fraction: float = Field(ge=0, le=1)
    verified: bool
    pixels_rewritten: bool
    lossy_source: bool


class IngestPackageEntry(Command):
    """v1, superseded by IngestPackageEntryV2 and no longer published: it names the zip by
    its object name, which may hold a patient's name. Still consumed, so that v1 commands in
    flight when v2 is deployed are ingested (remove it once ingestion-commands holds none)."""

    TYPE = "co.saludtech.ingestion.package_entry.ingest.v1"
    SUBJECT_FIELD = "package_id"
    # Sealed if it is ever serialized again (a redelivery from an outbox): the object name.
    PERSONAL = ("name",)

    package_id: str = _ID
    bucket: str = _ID
    name: str = Field(min_length=1, max_length=1024)
    generation: int = Field(ge=1)
    entry_index: int = Field(ge=0)
    entry_count: int = Field(ge=1)
    center_id: str = _ID


class IngestPackageEntryV2(Command):
    """Ingest entry `entry_index` of a zip package: one unit of work per entry, so the
    entries of a large study spread over many function instances. The package is named by
    its id only; where it is stored (bucket, name, generation) is read from its record."""

    TYPE = "co.saludtech.ingestion.package_entry.ingest.v2"
    SUBJECT_FIELD = "package_id"

    package_id: str = _ID
    entry_index: int = Field(ge=0)


class CatalogueImage(Command):
    """Record an anonymized image, already stored create-only, in the catalogue (internal:
    issued by the ingestion functions to their own idempotent processor)."""

    INTERNAL = True  # recorded in-process, never published on a topic
    TYPE = "co.saludtech.ingestion.image.catalogue.v1"
    SUBJECT_FIELD = "image_id"

    image_id: str = _ID
    unit_id: str = _ID
    patient_token: str = _ID
    study_id: str = _ID
    series_id: str = _ID
    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    image_format: str | None = None
    data_source: str = _ID
    uri: str
    size: int = Field(ge=0)
    sha256: str
    profile: str
    options: list[str] = Field(default_factory=list)
    pixel_cleaning: PixelCleaningSummary | None = None
    # AES-GCM token of the clinical history (see field_crypto.py): never the plain text.
    clinical_history_encrypted: str | None = None
    package_id: str | None = None
    entry_index: int | None = None
    # Platform-internal link between centers' copies of one instance (domain.instance_key).
    instance_key: str | None = None


class RecordRejection(Command):
    """Record an object that was quarantined, and why (internal, like CatalogueImage)."""

    INTERNAL = True  # recorded in-process, never published on a topic
    TYPE = "co.saludtech.ingestion.rejection.record.v1"
    SUBJECT_FIELD = "rejection_id"

    rejection_id: str = _ID
    data_source: str
    reason: str = _ID
    detail: str = ""
    quarantine_uri: str
    package_id: str | None = None
    entry_index: int | None = None


class CompletePackage(Command):
    """Every entry of a package is done: announce the study (internal)."""

    INTERNAL = True  # recorded in-process, never published on a topic
    TYPE = "co.saludtech.ingestion.package.complete.v1"
    SUBJECT_FIELD = "package_id"

    package_id: str = _ID
    anonymized: int = Field(ge=0)
    rejected: int = Field(ge=0)
    study_ids: list[str] = Field(default_factory=list)


class ReleaseQuarantined(Command):
    """An operator's review: ingest a quarantined upload again from the copy quarantine kept
    (after its center confirmed it, a fix, or a raised limit). The pipeline runs on it as it
    runs today: if it is refused again it is quarantined again, with its new reason."""

    TYPE = "co.saludtech.ingestion.quarantine.release.v1"
    SUBJECT_FIELD = "rejection_id"

    rejection_id: str = _ID


class DiscardQuarantined(Command):
    """An operator's review: delete a quarantined upload's kept copy; the rejection stays,
    recorded as discarded."""

    TYPE = "co.saludtech.ingestion.quarantine.discard.v1"
    SUBJECT_FIELD = "rejection_id"

    rejection_id: str = _ID


class RecordRelease(Command):
    """The outcome of a release, recorded with the review (internal, like CatalogueImage)."""

    INTERNAL = True  # recorded in-process, never published on a topic
    TYPE = "co.saludtech.ingestion.quarantine.release_record.v1"
    SUBJECT_FIELD = "rejection_id"

    rejection_id: str = _ID
    released_as: str = _ID  # the unit id the copy was ingested under
    outcome: str = _ID  # anonymized | unchanged | rejected


class ImageAnonymized(Event):
    """An image was de-identified, stored and catalogued (original: EventoAnonimizacion)."""

    TYPE = "co.saludtech.ingestion.image.anonymized.v1"
    SUBJECT_FIELD = "image_id"

    image_id: str
    patient_token: str
    study_id: str
    series_id: str
    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    image_format: str | None = None
    data_source: str
    uri: str
    size: int
    sha256: str
    ingested_at: str
    package_id: str | None = None
    # Present when the image could carry burned-in text and its pixels were checked.
    pixel_cleaning: PixelCleaningSummary | None = None
    # Platform-internal: the same for every center's copy of one original instance (a keyed
    # hash, docs/decisions/0013-referrals.md), so a dataset keeps one copy. Never answered to
    # a center or a buyer. Absent on events from before it existed.
    instance_key: str | None = None


class ImageRejected(Event):
    """An object was not ingested and waits in quarantine; `reason` is a stable code."""

    TYPE = "co.saludtech.ingestion.image.rejected.v1"
    SUBJECT_FIELD = "rejection_id"

    rejection_id: str
    data_source: str
    reason: str
    detail: str = ""
    quarantine_uri: str
    rejected_at: str
    package_id: str | None = None
    entry_index: int | None = None


class StudyIngested(Event):
    """Every entry of a package (a study) was anonymized or quarantined."""

    TYPE = "co.saludtech.ingestion.study.ingested.v1"
    SUBJECT_FIELD = "package_id"

    package_id: str
    data_source: str
    entry_count: int
    anonymized: int
    rejected: int
    study_ids: list[str]
    completed_at: str


class QuarantineReviewed(Event):
    """An operator released (ingested again) or discarded a quarantined upload. `outcome` of
    a release: anonymized, unchanged, or rejected (quarantined again under `released_as`)."""

    TYPE = "co.saludtech.ingestion.quarantine.reviewed.v1"
    SUBJECT_FIELD = "rejection_id"

    rejection_id: str
    data_source: str
    review: str  # released | discarded
    outcome: str | None = None
    released_as: str | None = None
    reviewed_at: str


class IngestionCommandRejected(CommandRejected):
    TYPE = "co.saludtech.ingestion.command.rejected.v1"


# Where this context's messages travel and how it announces a failure: one naming rule.
NAMES = ContextNames("ingestion", IngestionCommandRejected)


# -- read models: what this context's doors answer (the api reads the same models) --------
class ImageView(ReadModel):
    """A catalogue record, without its clinical history."""

    image_id: str | None
    patient_token: str | None
    study_id: str | None
    series_id: str | None
    modality: str | None
    anatomical_region: str | None
    pathology: str | None
    image_format: str | None
    data_source: str | None
    uri: str | None
    size: int | None
    sha256: str | None
    profile: str | None
    options: list[str] | None
    ingested_at: str | None
    package_id: str | None
    pixel_cleaning: PixelCleaningSummary | None
    has_clinical_history: bool
    # The upload (package or object) it came from: GET /uploads/<id> says what became of it.
    upload_id: str | None = None


class RejectionView(ReadModel):
    """An upload a center sent that was quarantined, and why."""

    rejection_id: str | None
    reason: str | None
    detail: str | None
    package_id: str | None
    entry_index: int | None
    rejected_at: str | None
    data_source: str | None
    # An operator's review, once done: released (see released_as) or discarded.
    review: str | None = None
    reviewed_at: str | None = None
    released_as: str | None = None


class PackageEntries(ReadModel):
    """A package's entries by outcome so far."""

    deidentified: int
    duplicate: int
    quarantined: int
    pending: int


class QuarantinedEntry(ReadModel):
    rejection_id: str | None
    entry_index: int | None
    reason: str | None
    detail: str | None


class UploadView(ReadModel):
    """What became of one upload of a center (an object or a zip package): ids, codes and
    counts, never its object name. `status`: received (a package still ingesting),
    deidentified, duplicate (the same file again), quarantined (with `reason`), released or
    discarded (by an operator's review), complete (a package)."""

    upload_id: str
    data_source: str | None
    kind: str | None
    status: str | None
    received_at: str | None
    updated_at: str | None
    image_id: str | None = None
    study_id: str | None = None
    study_ids: list[str] | None = None
    reason: str | None = None
    detail: str | None = None
    entry_count: int | None = None
    released_as: str | None = None
    entries: PackageEntries | None = None
    quarantined: list[QuarantinedEntry] | None = None


class SeriesCount(ReadModel):
    series_id: str
    images: int


class StudyView(ReadModel):
    """One study as a center sees it: its own images only (another center's copies of the
    same instances are other studies, docs/decisions/0013-referrals.md)."""

    study_id: str
    patient_token: str | None
    images: int | None  # null when more than `items` holds (`truncated`)
    series: list[SeriesCount]
    modalities: list[str]
    uploads: list[str]
    first_ingested_at: str | None
    last_ingested_at: str | None
    items: list[ImageView]
    truncated: bool
