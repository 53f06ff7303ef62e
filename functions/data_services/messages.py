"""The commands and events of the data_services context: its public contract (schema v1).

Original names: ComandoCrearServicioDatos → CreateDataService, ComandoAsignarExperto →
AssignExpert, ComandoIniciarServicioDatos → StartDataService, ComandoTerminarServicioDatos →
FinishDataService, and their events (see docs/glossary.md).

Commands carry what the original payload needs and no more: an expert is named by code (the
registry holds the person), a client by code (CreateDataServiceV2; the deprecated v1 also
carried its names and username). Events carry ids and codes only, never an expert's national
id or email, never a client's name. The personal fields a command does carry (PERSONAL) travel
sealed: the schemas describe the logical payload (shared/service/sealed_messages.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.messages import Command, CommandRejected, Event
from shared.domain.read_models import ReadModel
from shared.service.context import ContextNames

_PREFIX = "co.saludtech.data_services.data_service"
_EXPERT = "co.saludtech.data_services.expert"
_REQUEST = "co.saludtech.data_services.data_request"
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=32)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Timestamp = Annotated[str, Field(description="RFC 3339, UTC")]
Count = Annotated[int, Field(ge=0)]
Source = Annotated[str, Field(min_length=1, max_length=64)]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ClientRef(_Value):
    """The client as the original CreateDataService payload carried it (v1 only)."""

    code: Code
    first_names: Name
    last_names: Name
    username: Annotated[str, Field(min_length=1, max_length=64)]


class PlanRef(_Value):
    code: Code
    name: Annotated[str, Field(max_length=100)] = ""


class CloudRef(_Value):
    """Where the dataset is delivered (original: nube), as commands carry it: the v1 shape,
    read strictly. Its place (the buyer's bucket, a prefix, a managed folder's reader)
    travels beside it in the command's `cloud_place`, added in v1.1 as an optional
    top-level field: a field added inside this object would break a strict reader."""

    code: Code
    name: Annotated[str, Field(max_length=100)] = ""
    type: Code


class CloudPlace(_Value):
    """Where exactly a target delivers (v1.1): `bucket` the buyer's bucket (type bucket),
    which grants the platform's delivery service account roles/storage.objectCreator;
    `prefix` under it; `principal` the reader of a managed folder (type managed_folder):
    user:EMAIL, group:EMAIL or serviceAccount:EMAIL."""

    bucket: Annotated[str, Field(max_length=222)] | None = None
    prefix: Annotated[str, Field(max_length=512)] | None = None
    principal: Annotated[str, Field(max_length=320)] | None = None


class CloudTarget(CloudRef):
    """A delivery target whole, as it is stored, answered and taken at the HTTP doors
    (`cloud.bucket` ...). `type` decides how (domain.py, DeliveryMode): `bucket` copies the
    images into the buyer's own bucket `bucket` (under `prefix`); without `bucket` (a
    target of before v1.1) into the service's prefix of the platform's delivery bucket,
    fetched through the files route. `managed_folder` copies them into a managed folder of
    the delivery bucket that `principal` may read until the access ends; `links` copies
    nothing: the files route signs short-lived URLs at each request; `dicomweb` copies
    nothing: the dataset is read through the api's DICOMweb routes."""

    bucket: Annotated[str, Field(max_length=222)] | None = None
    prefix: Annotated[str, Field(max_length=512)] | None = None
    principal: Annotated[str, Field(max_length=320)] | None = None

    @classmethod
    def of(cls, ref: CloudRef, place: CloudPlace | None) -> CloudTarget:
        found = place.model_dump(exclude_none=True) if place else {}
        return cls(code=ref.code, name=ref.name, type=ref.type, **found)

    def split(self) -> tuple[CloudRef, CloudPlace | None]:
        """(cloud, cloud_place) as a command carries them."""
        place = CloudPlace(bucket=self.bucket, prefix=self.prefix, principal=self.principal)
        ref = CloudRef(code=self.code, name=self.name, type=self.type)
        return ref, place if place.model_dump(exclude_none=True) else None


class SplitRatios(_Value):
    """Percentages of patients in each split; they add up to 100."""

    train: Annotated[int, Field(ge=0, le=100)] = 80
    validation: Annotated[int, Field(ge=0, le=100)] = 10
    test: Annotated[int, Field(ge=0, le=100)] = 10


class DatasetCriteria(_Value):
    """A saved query over the catalogue; every field left out matches everything."""

    modality: Annotated[str, Field(max_length=16)] | None = None
    anatomical_region: Annotated[str, Field(max_length=128)] | None = None
    pathology: Annotated[str, Field(max_length=128)] | None = None
    sources: Annotated[list[Source], Field(max_length=30)] = Field(default_factory=list)
    ingested_from: Timestamp | None = None  # inclusive
    ingested_to: Timestamp | None = None  # exclusive
    max_images: Annotated[int, Field(ge=1)] | None = None
    max_per_patient: Annotated[int, Field(ge=1)] | None = None
    split: SplitRatios = Field(default_factory=SplitRatios)


class DatasetSpec(_Value):
    code: Code
    name: Annotated[str, Field(max_length=100)] = ""
    criteria: DatasetCriteria = Field(default_factory=DatasetCriteria)


# -- commands ------------------------------------------------------------------------------
class CreateDataServiceV2(Command):
    """Create a data service for a subscription. The client is named by its code only:
    the code is all data services uses (it checks the subscription belongs to that client,
    against its own projection of SubscriptionCreated, and lists a client's services by it)."""

    TYPE = f"{_PREFIX}.create.v2"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    subscription_id: Id
    client_code: Code
    plan: PlanRef
    cloud: CloudRef
    dataset: DatasetSpec
    # The speciality the expert needs; by default the dataset's anatomical region.
    speciality: Code | None = None
    # An expert asked for by name (code); otherwise AssignExpert picks one by load.
    expert_code: Code | None = None
    # Use the dataset, cloud and speciality of the client's data request for the
    # subscription (SubmitDataRequest), if it made one; the command's own otherwise. The
    # PRO saga sends the plan's standard dataset with this set.
    from_client_request: bool = False
    # Added in v1.1 (optional): the start waits for the assigned expert's approval
    # (ApproveDataset). Taken from the client's data request when from_client_request.
    review_required: bool = False
    # Added in v1.1 (optional): where exactly `cloud` delivers (CloudPlace).
    cloud_place: CloudPlace | None = None

    @property
    def target_cloud(self) -> CloudTarget:
        return CloudTarget.of(self.cloud, self.cloud_place)


class CreateDataService(Command):
    """Deprecated: v1, superseded by CreateDataServiceV2 and no longer published. It carries
    the client's names and username, personal data that data services never used. Still
    consumed, as the same command without the names, so that v1 commands already on
    data-services-commands are processed; removed once the topic holds none. The names
    travel sealed (PERSONAL), unless published before they were."""

    # So that the exported schema says it too, to tools as well as to people.
    model_config = ConfigDict(json_schema_extra={"deprecated": True})

    TYPE = f"{_PREFIX}.create.v1"
    SUBJECT_FIELD = "data_service_id"
    PERSONAL = ("client.first_names", "client.last_names", "client.username")

    data_service_id: Id
    subscription_id: Id
    client: ClientRef
    plan: PlanRef
    cloud: CloudRef
    dataset: DatasetSpec
    speciality: Code | None = None
    expert_code: Code | None = None
    from_client_request: bool = False
    review_required: bool = False  # added in v1.1, as in v2

    def upgraded(self) -> CreateDataServiceV2:
        """The same command as v2: the client's code stays, its names are dropped."""
        fields = self.model_dump(exclude={"client"})
        return CreateDataServiceV2(**fields, client_code=self.client.code)


class SubmitDataRequest(Command):
    """What the client wants of the data service its subscription pays for: a dataset, a
    delivery target, a speciality. Kept for the subscription; the latest one before the
    service is created is the one used."""

    TYPE = f"{_REQUEST}.submit.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    dataset: DatasetSpec
    cloud: CloudRef
    speciality: Code | None = None
    # Added in v1.1 (optional): an expert reviews the dataset (exclusions, approval) before
    # its delivery starts.
    review_required: bool = False
    # Added in v1.1 (optional): where exactly `cloud` delivers (CloudPlace).
    cloud_place: CloudPlace | None = None

    @property
    def target_cloud(self) -> CloudTarget:
        return CloudTarget.of(self.cloud, self.cloud_place)


class AssignExpert(Command):
    """Assign an expert, or reassign; without expert_code the least loaded expert of the
    service's speciality is chosen."""

    TYPE = f"{_PREFIX}.assign_expert.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    expert_code: Code | None = None


class PrepareDataset(Command):
    """Resolve the service's dataset criteria into its frozen manifest (before the start,
    and independent of the expert: the PRO saga runs both at once). Refused with
    `dataset_empty` or `dataset_exceeds_plan`; a second one with `dataset_already_prepared`."""

    TYPE = f"{_PREFIX}.prepare_dataset.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id


class StartDataService(Command):
    """Deliver the prepared manifest: refused without an expert (`expert_required`) or a
    prepared dataset (`dataset_required`)."""

    TYPE = f"{_PREFIX}.start.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id


class DeliverChunk(Command):
    """Deliver one chunk of a frozen manifest (fanned out by the start, one per chunk)."""

    TYPE = f"{_PREFIX}.deliver_chunk.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    chunk_index: Count


class CompleteDelivery(Command):
    """Every chunk is delivered: write the manifest files and record the delivery
    (internal: issued with a derived id by whichever chunk sees the last one done)."""

    INTERNAL = True
    TYPE = f"{_PREFIX}.complete_delivery.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    objects: Count
    bytes: Count
    manifest_uri: str
    checksums_uri: str
    links_uri: str | None = None
    links_expire_at: Timestamp | None = None
    # Where the data is and how to fetch it (domain.Where), told to the buyer as it is.
    target_type: Code | None = None
    location: str | None = None
    fetch_hint: str | None = None
    access_until: Timestamp | None = None


class FailDelivery(Command):
    """A chunk found the delivery impossible (internal, like CompleteDelivery)."""

    INTERNAL = True
    TYPE = f"{_PREFIX}.fail_delivery.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    reason: Code
    detail: Annotated[str, Field(max_length=300)] = ""


class RevokeChunk(Command):
    """Delete the delivered copies of one chunk (fanned out by finish, cancel or failure)."""

    TYPE = f"{_PREFIX}.revoke_chunk.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    chunk_index: Count


class FinishDataService(Command):
    TYPE = f"{_PREFIX}.finish.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id


class CancelDataService(Command):
    TYPE = f"{_PREFIX}.cancel.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    reason: Annotated[str, Field(max_length=200)] = ""


class RegisterExpert(Command):
    """Add an expert to the registry, or update one (the registry holds the person). The
    person's names, username, national id and email travel sealed (PERSONAL)."""

    TYPE = f"{_EXPERT}.register.v1"
    SUBJECT_FIELD = "expert_code"
    PERSONAL = ("first_names", "last_names", "username", "national_id", "email")

    expert_code: Code
    first_names: Name
    last_names: Name
    username: Annotated[str, Field(min_length=1, max_length=64)]
    national_id: Annotated[str, Field(min_length=1, max_length=20)]
    email: Annotated[str, Field(min_length=3, max_length=254)]
    specialities: Annotated[list[Code], Field(min_length=1, max_length=20)]
    capacity: Annotated[int, Field(ge=1, le=100)] = 5


# -- events --------------------------------------------------------------------------------
class DataServiceCreated(Event):
    TYPE = f"{_PREFIX}.created.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    subscription_id: Id
    client_code: Code
    plan: Code
    cloud_type: Code
    dataset_code: Code
    speciality: Code
    status: str
    created_at: Timestamp


class ExpertAssigned(Event):
    TYPE = f"{_PREFIX}.expert_assigned.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    expert_code: Code
    previous_expert_code: Code | None = None
    speciality: Code
    assigned_at: Timestamp


class DatasetPrepared(Event):
    """The dataset is resolved and frozen: these are the images the service will deliver."""

    TYPE = f"{_PREFIX}.dataset_prepared.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    images: Count
    patients: Count
    chunks: Count
    splits: dict[str, Count]
    manifest_digest: str
    prepared_at: Timestamp


class DataServiceStarted(Event):
    TYPE = f"{_PREFIX}.started.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    delivery_mode: Code
    images: Count
    patients: Count
    chunks: Count
    splits: dict[str, Count]
    manifest_digest: str
    started_at: Timestamp


class DataServiceDelivered(Event):
    TYPE = f"{_PREFIX}.delivered.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    delivery_mode: Code
    objects: Count
    bytes: Count
    manifest_uri: str
    checksums_uri: str
    links_expire_at: Timestamp | None = None
    delivered_at: Timestamp
    # Added in v1.1 (optional): where the data is and how the buyer fetches it, as the
    # buyer may read it (never a path of the platform's the buyer cannot read):
    # `target_type` the cloud.type delivered to, `location` a gs:// URL or an https URL,
    # `fetch_hint` the one command or request that fetches it, `access_until` when a
    # managed folder's read grant ends (revoked sooner by finish or cancel).
    target_type: Code | None = None
    location: str | None = None
    fetch_hint: str | None = None
    access_until: Timestamp | None = None


class DataServiceFinished(Event):
    TYPE = f"{_PREFIX}.finished.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    objects_delivered: Count
    # How access ends (domain.DataService.revocation): `copies_deleted` (the platform's
    # copies deleted, a managed folder's grant revoked), `links_stop` (the files route
    # refuses at once), `buyer_owned` (the buyer's bucket keeps its copies); `links_expire`
    # in events of before v1.1.
    revocation: Code
    links_expire_at: Timestamp | None = None
    finished_at: Timestamp


class DataServiceCancelled(Event):
    TYPE = f"{_PREFIX}.cancelled.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    previous_status: str
    reason: Code  # a code (domain.CANCELLATION_CODES, "other"), never free text
    cancelled_at: Timestamp


class DataServiceFailed(Event):
    """The delivery could not be done (the target refused writes, an image is gone)."""

    TYPE = f"{_PREFIX}.failed.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id | None = None
    reason: Code
    detail: str = ""
    failed_at: Timestamp


class DataRequestSubmitted(Event):
    TYPE = f"{_REQUEST}.submitted.v1"
    SUBJECT_FIELD = "subscription_id"

    subscription_id: Id
    client_code: Code
    dataset_code: Code
    cloud_type: Code
    speciality: Code | None = None
    submitted_at: Timestamp


class ExpertRegistered(Event):
    TYPE = f"{_EXPERT}.registered.v1"
    SUBJECT_FIELD = "expert_code"

    expert_code: Code
    specialities: list[Code]
    capacity: int
    registered_at: Timestamp


class DataServicesCommandRejected(CommandRejected):
    """A command that can never succeed (unknown plan, no expert available, an empty or
    too large dataset, ...): `reason` is the stable code the PRO saga reacts to."""

    TYPE = "co.saludtech.data_services.command.rejected.v1"
    SUBJECT_FIELD = "command_id"


# Where this context's messages travel and how it announces a failure: one naming rule.
NAMES = ContextNames("data_services", DataServicesCommandRejected)


class Status(StrEnum):
    CREATED = "CREATED"
    EXPERT_ASSIGNED = "EXPERT_ASSIGNED"
    STARTED = "STARTED"
    DELIVERED = "DELIVERED"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


# -- read models: what this context's doors answer (the api reads the same models) --------
class ClientCode(ReadModel):
    """The client by code only (also of a service a v1 command created with names)."""

    code: str


class DatasetView(ReadModel):
    code: str
    name: str
    criteria: DatasetCriteria


class ManifestSummaryView(ReadModel):
    """The frozen manifest the service delivers."""

    manifest_id: str
    images: int
    patients: int
    chunks: int
    bytes: int
    splits: dict[str, int]
    digest: str


class DeliveryView(ReadModel):
    objects: int
    bytes: int
    manifest_uri: str
    checksums_uri: str
    delivered_at: str
    links_uri: str | None = None
    links_expire_at: str | None = None
    access_until: str | None = None


class WhereView(ReadModel):
    """Where a service's data is and how the buyer fetches it (domain.Where): `location`
    is what the buyer can read (its bucket, the managed folder, the files route, the
    DICOMweb base URL), `fetch_hint` the command or request that fetches it."""

    target_type: str
    location: str
    fetch_hint: str
    files_url: str | None = None
    dicomweb_url: str | None = None
    access_until: str | None = None
    available: bool  # False before the delivery and after the end


class FileLink(ReadModel):
    """One file of a delivered dataset with a URL that reads it until `expires_at`."""

    name: str  # relative to the dataset's root: `<split>/<image_id>.dcm`, `SHA256SUMS`
    url: str
    expires_at: str
    size: int | None = None
    sha256: str | None = None


class FilesPage(ReadModel):
    """A page of a delivered dataset's files, each with a freshly signed short-lived URL;
    the first page starts with manifest.jsonl and SHA256SUMS."""

    data_service_id: str
    items: list[FileLink]
    next_cursor: str | None


class ProgressView(ReadModel):
    """One record per chunk delivered (and revoked)."""

    chunks: int
    chunks_delivered: int
    objects_delivered: int
    objects_copied: int
    chunks_revoked: int


class DataServiceView(ReadModel):
    data_service_id: str
    subscription_id: str
    client: ClientCode
    plan: str
    cloud: CloudTarget
    dataset: DatasetView
    speciality: str
    status: Status
    expert_code: str | None
    created_at: str
    assigned_at: str | None
    prepared_at: str | None
    started_at: str | None
    ended_at: str | None
    end_reason: str | None
    manifest: ManifestSummaryView | None
    delivery: DeliveryView | None
    version: int
    # Only on GET /data-services/<id>, once the manifest is frozen.
    progress: ProgressView | None = None
    # Where the data is and how to fetch it (None before the target is known).
    where: WhereView | None = None
    # Added in v1.1 (optional): the expert's review (review.py): whether the start waits
    # for the approval, when it was approved, a start held until then, the manifests the
    # exclusions replaced (oldest first; each stays readable).
    review_required: bool = False
    approved_at: str | None = None
    start_requested_at: str | None = None
    previous_manifests: list[str] = []


class ManifestEntryView(ReadModel):
    image_id: str
    patient_token: str
    study_id: str
    split: str
    uri: str
    sha256: str
    size: int
    modality: str | None
    anatomical_region: str | None
    pathology: str | None


QidoKey = Annotated[str | None, Field(max_length=1024)]


class QidoKeys(BaseModel):
    """The QIDO-RS keys a search over a delivered dataset matches on (PS3.18 10.6.1.2), by
    DICOM keyword, as the api takes them and the data services' door reads them: a single
    value, a UID list (comma-separated or the key repeated), `*`/`?` wildcards, a date or
    time range `from-to`."""

    StudyInstanceUID: QidoKey = None
    SeriesInstanceUID: QidoKey = None
    SOPInstanceUID: QidoKey = None
    SOPClassUID: QidoKey = None
    Modality: QidoKey = Field(None, description="of the series; of any series for a study")
    ModalitiesInStudy: QidoKey = None
    StudyDate: QidoKey = Field(None, description="YYYYMMDD, or a range YYYYMMDD-YYYYMMDD")
    StudyTime: QidoKey = None
    AccessionNumber: QidoKey = None
    PatientID: QidoKey = Field(None, description="the pseudonym the de-identification gave")
    PatientName: QidoKey = None
    StudyID: QidoKey = None
    StudyDescription: QidoKey = None
    SeriesDescription: QidoKey = None
    SeriesNumber: QidoKey = None
    InstanceNumber: QidoKey = None
    limit: QidoKey = Field(None, description="at most 1000 (the default)")
    offset: QidoKey = None
    includefield: QidoKey = Field(None, description="keywords or tags, comma-separated, or all")
    fuzzymatching: QidoKey = Field(None, description="accepted and not supported: exact matching")


class ManifestPage(ReadModel):
    manifest_id: str
    chunk: int
    entries: list[ManifestEntryView]
    next_chunk: int | None


# -- what a buyer sees before buying: counts that identify no one (catalogue_counts.py) ----
# The dimension a breakdown of the catalogue's counts is by.
GroupBy = Literal["modality", "anatomical_region", "pathology", "data_source"]


class CountCell(ReadModel):
    """The images, studies and patients of a set of catalogue images, under the minimum
    cell size k: with fewer than k patients (none included) the cell is `suppressed`, its
    counts null and `below` k; otherwise each count is rounded down to a multiple of
    `rounded_to` (never below k), so the true count is at least the one shown and less
    than it plus `rounded_to`."""

    suppressed: bool
    images: int | None
    studies: int | None
    patients: int | None
    below: int | None = None  # when suppressed: the cell holds fewer patients than this


class CountGroup(CountCell):
    """One value of the breakdown's dimension (`value` null: images without one), or, with
    `other` true and `value` null, every value under the minimum cell size merged: it is
    always listed last, suppressed itself when it holds fewer than k patients."""

    value: str | None
    other: bool = False


class CatalogueCountsView(ReadModel):
    """What the catalogue holds for some criteria; never an image, study or patient id."""

    min_cell: int
    rounded_to: int
    total: CountCell
    group_by: GroupBy | None = None
    groups: list[CountGroup] = Field(default_factory=list)


class DatasetQuoteRequest(_Value):
    """What a dataset would hold on a plan, before it is asked for. `dataset_code` decides
    which split each patient lands in (datasets.split_of): give the code the data request
    will carry to get its very splits; without one the splits are an estimate."""

    plan: Code
    dataset_code: Code | None = None
    criteria: DatasetCriteria = Field(default_factory=DatasetCriteria)


class DatasetQuoteView(ReadModel):
    """The dataset a data service on `plan` would resolve the criteria into (max_images,
    max_per_patient, the plan's allowance applied, as the prepare does), counted under the
    minimum cell size: a dataset of fewer than `min_cell` patients is refused
    (`dataset_too_small`), so every count here is shown, rounded down to a multiple of
    `rounded_to` (never below `min_cell`); `bytes` is rounded down to a whole MB (10^6).
    The splits are cells: a split of fewer than `min_cell` patients is suppressed."""

    plan: str
    max_images: int  # the most the dataset may hold: its max_images, or the plan's
    min_cell: int
    rounded_to: int
    images: int
    studies: int
    patients: int
    bytes: int
    splits: dict[str, CountCell]


class ExpertView(ReadModel):
    """An expert of the registry, without the person behind the code (national id and
    email stay in storage)."""

    expert_code: str
    first_names: str
    last_names: str
    username: str
    specialities: list[str]
    capacity: int
    registered_at: str
    assignments: list[str]
    load: int
    # Added in v1.1 (optional): a retired expert is never assigned again.
    retired_at: str | None = None


# -- the expert's work (v1.1): retiring, reviewing a dataset, approving it ------------------
ExclusionReason = Literal[
    "artifact", "wrong_anatomy", "duplicate", "poor_quality", "phi_suspected", "other"
]
EXCLUSION_REASONS: tuple[str, ...] = get_args(ExclusionReason)
MAX_EXCLUDED_PER_COMMAND = 500
ImageId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class RetireExpert(Command):
    """Take an expert out of the registry's choices: never assigned again (by load or by
    name); the services assigned to it keep it until they end or are reassigned. A second
    one changes nothing."""

    TYPE = f"{_EXPERT}.retire.v1"
    SUBJECT_FIELD = "expert_code"

    expert_code: Code


class ExcludeImages(Command):
    """The assigned expert takes images out of the prepared dataset, before the start: a
    new manifest version (a new manifest_id) without them, each kept image in its
    patient's split; the replaced version stays readable. Refused with `unknown_image`,
    `dataset_empty`, `already_started`, `already_approved`, `not_assigned_expert`.
    `note` is the expert's own words: stored with the revision, never logged nor
    announced."""

    TYPE = f"{_PREFIX}.exclude_images.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    expert_code: Code
    image_ids: Annotated[list[ImageId], Field(min_length=1, max_length=MAX_EXCLUDED_PER_COMMAND)]
    reason: ExclusionReason
    note: Annotated[str, Field(max_length=500)] = ""


class ApproveDataset(Command):
    """The assigned expert approves the prepared dataset (its latest manifest version): a
    start that waited for it (review_required) begins then. A second one changes nothing."""

    TYPE = f"{_PREFIX}.approve_dataset.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    expert_code: Code


class ExpertRetired(Event):
    TYPE = f"{_EXPERT}.retired.v1"
    SUBJECT_FIELD = "expert_code"

    expert_code: Code
    assignments: Count  # services that keep it until they end or are reassigned
    retired_at: Timestamp


class ImagesExcluded(Event):
    """A new version of a prepared dataset: counts and manifest ids only (never the image
    ids, nor the expert's note)."""

    TYPE = f"{_PREFIX}.images_excluded.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    previous_manifest_id: Id
    manifest_id: Id
    reason: ExclusionReason
    excluded: Count
    images: Count
    patients: Count
    chunks: Count
    splits: dict[str, Count]
    manifest_digest: str
    excluded_at: Timestamp


class DatasetApproved(Event):
    TYPE = f"{_PREFIX}.dataset_approved.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    expert_code: Code
    manifest_id: Id
    images: Count
    # The start had been asked for and waited: it begins now.
    start_released: bool = False
    approved_at: Timestamp


class ExpertContact(ReadModel):
    """How the notifications context reaches an expert (an internal door's answer, never
    the api's): the address only, no national id."""

    expert_code: str
    email: str
    retired: bool = False
