"""The commands and events of the data_services context: its public contract (schema v1).

Original names: ComandoCrearServicioDatos → CreateDataService, ComandoAsignarExperto →
AssignExpert, ComandoIniciarServicioDatos → StartDataService, ComandoTerminarServicioDatos →
FinishDataService, and their events (see docs/glossary.md).

Commands carry what the original payload needs and no more: an expert is named by code (the
registry holds the person), a client by code (CreateDataServiceV2; the deprecated v1 also
carried its names and username). Events carry ids and codes only, never an expert's national
id or email, never a client's name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

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


class CloudTarget(_Value):
    """Where the dataset is delivered (original: nube). `type` decides how: `bucket`
    copies the images under the service's prefix of the delivery bucket, `links` hands out
    time-limited signed URLs instead."""

    code: Code
    name: Annotated[str, Field(max_length=100)] = ""
    type: Code


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
    cloud: CloudTarget
    dataset: DatasetSpec
    # The speciality the expert needs; by default the dataset's anatomical region.
    speciality: Code | None = None
    # An expert asked for by name (code); otherwise AssignExpert picks one by load.
    expert_code: Code | None = None
    # Use the dataset, cloud and speciality of the client's data request for the
    # subscription (SubmitDataRequest), if it made one; the command's own otherwise. The
    # PRO saga sends the plan's standard dataset with this set.
    from_client_request: bool = False


class CreateDataService(Command):
    """Deprecated: v1, superseded by CreateDataServiceV2 and no longer published. It carries
    the client's names and username, personal data that data services never used. Still
    consumed, as the same command without the names, so that v1 commands already on
    data-services-commands are processed; removed once the topic holds none."""

    # So that the exported schema says it too, to tools as well as to people.
    model_config = ConfigDict(json_schema_extra={"deprecated": True})

    TYPE = f"{_PREFIX}.create.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    subscription_id: Id
    client: ClientRef
    plan: PlanRef
    cloud: CloudTarget
    dataset: DatasetSpec
    speciality: Code | None = None
    expert_code: Code | None = None
    from_client_request: bool = False

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
    cloud: CloudTarget
    speciality: Code | None = None


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
    """Add an expert to the registry, or update one (the registry holds the person)."""

    TYPE = f"{_EXPERT}.register.v1"
    SUBJECT_FIELD = "expert_code"

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


class DataServiceFinished(Event):
    TYPE = f"{_PREFIX}.finished.v1"
    SUBJECT_FIELD = "data_service_id"

    data_service_id: Id
    manifest_id: Id
    objects_delivered: Count
    # How access ends: `copies_deleted` (bucket) or `links_expire` (links, at the time given).
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


class ManifestPage(ReadModel):
    manifest_id: str
    chunk: int
    entries: list[ManifestEntryView]
    next_chunk: int | None


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
