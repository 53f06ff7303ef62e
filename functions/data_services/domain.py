"""The DataService aggregate and its state machine: pure Python, no I/O.

    CREATED → EXPERT_ASSIGNED → STARTED → DELIVERED → FINISHED
    (CANCELLED from any state before FINISHED; FAILED from STARTED)

The dataset is prepared (resolved into a frozen manifest) before the start, in CREATED or
EXPERT_ASSIGNED, independently of the expert: `prepared_at` records it, the status does
not change. Every invariant breaks with a DataServiceError whose reason is a stable code:
no start without an expert and a prepared dataset, no double start, finish only after
delivery, an expert of the right speciality and not over capacity (experts.py), a dataset
no larger than the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from functions.data_services.experts import Expert, ExpertError, ExpertSlot, speciality_code
from functions.data_services.messages import (
    CloudTarget,
    CreateDataServiceV2,
    DataServiceCancelled,
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    DataServiceFinished,
    DataServiceStarted,
    DatasetApproved,
    DatasetCriteria,
    DatasetPrepared,
    ExclusionReason,
    ExpertAssigned,
    ImagesExcluded,
    Status,
    SubmitDataRequest,
)
from functions.data_services.plans import PlanAllowance, find_allowance
from shared.domain.aggregate import Aggregate
from shared.domain.clock import rfc3339
from shared.domain.errors import PermanentError

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
GENERAL = "GENERAL"


class DataServiceError(PermanentError):
    """A command the data_services domain refuses; `reason` says which rule, never a value."""


class DeliveryMode(StrEnum):
    # Copies into the buyer's own bucket (cloud.bucket); without one (a target of before
    # v1.1) into the service's prefix of the platform's delivery bucket, which the buyer
    # cannot read: those copies are fetched through the files route, like links.
    BUCKET = "bucket"
    # Nothing copied: the files route signs short-lived URLs at each request.
    LINKS = "links"
    # Copies into the service's managed folder of the delivery bucket, which the buyer's
    # principal may read until the access ends (an IAM condition), or finish/cancel.
    MANAGED_FOLDER = "managed_folder"
    # Nothing copied: read through the api's DICOMweb routes (another context's work).
    DICOMWEB = "dicomweb"


# Cloud Storage's bucket naming rules (cloud.google.com/storage/docs/buckets#naming).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_PREFIX = re.compile(r"^[A-Za-z0-9._/-]{1,400}$")
_PRINCIPAL = re.compile(r"^(user|group|serviceAccount):[^@\s:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
OBJECT_CREATOR = "roles/storage.objectCreator"
OBJECT_VIEWER = "roles/storage.objectViewer"


_ENDED = frozenset({Status.FINISHED, Status.CANCELLED, Status.FAILED})
ENDED_STATUSES = frozenset(status.value for status in _ENDED)  # as stored
_ASSIGNABLE = frozenset({Status.CREATED, Status.EXPERT_ASSIGNED, Status.STARTED, Status.DELIVERED})
CANCELLATION_CODES = frozenset(
    {"client_request", "saga_failed", "subscription_cancelled", "budget", "data_quality"}
)


def cancellation_code(reason: str) -> str:
    code = reason.strip().lower().replace(" ", "_").replace("-", "_")
    if code in CANCELLATION_CODES:
        return code
    return "other" if code else "unspecified"


def allowance_or_error(plan_code: str) -> PlanAllowance:
    allowance = find_allowance(plan_code)
    if allowance is None:
        raise DataServiceError(
            "unknown_plan", "plans with a data service are PRO and ENTERPRISE", field="plan.code"
        )
    return allowance


def delivery_mode(cloud: CloudTarget) -> DeliveryMode:
    """The target's mode, its fields checked: each mode takes the fields it needs and
    refuses those it would ignore (a principal given to a bucket would grant nothing)."""
    try:
        mode = DeliveryMode(cloud.type.strip().lower())
    except ValueError:
        raise DataServiceError(
            "unknown_cloud_type",
            "cloud.type is " + ", ".join(m.value for m in DeliveryMode),
            field="cloud.type",
        ) from None
    if cloud.bucket is not None:
        if mode is not DeliveryMode.BUCKET:
            raise DataServiceError(
                "unexpected_cloud_field", "cloud.bucket is for type bucket", field="cloud.bucket"
            )
        validate_bucket_name(cloud.bucket)
    if cloud.prefix is not None:
        if cloud.bucket is None:
            raise DataServiceError(
                "unexpected_cloud_field", "cloud.prefix goes with cloud.bucket",
                field="cloud.prefix",
            )  # fmt: skip
        normalized_prefix(cloud.prefix)
    if mode is DeliveryMode.MANAGED_FOLDER:
        if not cloud.principal or not _PRINCIPAL.match(cloud.principal):
            raise DataServiceError(
                "invalid_principal",
                "user:EMAIL, group:EMAIL or serviceAccount:EMAIL",
                field="cloud.principal",
            )
    elif cloud.principal is not None:
        raise DataServiceError(
            "unexpected_cloud_field", "cloud.principal is for type managed_folder",
            field="cloud.principal",
        )  # fmt: skip
    return mode


def validate_bucket_name(name: str) -> None:
    components = name.split(".")
    if (
        not _BUCKET.match(name)
        or (len(components) == 1 and len(name) > 63)
        or any(not 1 <= len(c) <= 63 for c in components)
        or name.startswith("goog")
        or "google" in name
        or _IP.match(name)
        or ".." in name
    ):
        raise DataServiceError(
            "invalid_bucket_name",
            "a Cloud Storage bucket name: 3-63 lowercase letters, digits, - and _ (dots "
            "allowed, up to 222), starting and ending with a letter or digit",
            field="cloud.bucket",
        )


def normalized_prefix(raw: str | None) -> str:
    """A prefix as objects are named under it: no leading slash, one trailing slash."""
    prefix = (raw or "").strip().strip("/")
    if not prefix:
        return ""
    if not _PREFIX.match(prefix) or any(p in ("", ".", "..") for p in prefix.split("/")):
        raise DataServiceError(
            "invalid_prefix", "letters, digits, . _ - and / between names", field="cloud.prefix"
        )
    return f"{prefix}/"


@dataclass(frozen=True)
class TargetSpec:
    """Where a service's files go: a bucket (the buyer's or the platform's delivery
    bucket) and the root under it; what it copies and what can be revoked."""

    data_service_id: str
    mode: DeliveryMode
    bucket: str
    root: str  # every file of the dataset is `<root><name>`; ends with /
    buyer_bucket: bool  # the buyer's own: object creation only, nothing revoked
    copies: bool  # the images are copied (else only the manifest files are written)
    principal: str | None = None  # the managed folder's reader

    @property
    def probe_name(self) -> str:
        return f"{self.root}.saludtech-probe"


def target_spec(data_service_id: str, cloud: CloudTarget, delivery_bucket: str) -> TargetSpec:
    mode = delivery_mode(cloud)
    root = DataService.prefix_of(data_service_id)
    if mode is DeliveryMode.BUCKET and cloud.bucket:
        return TargetSpec(
            data_service_id, mode, cloud.bucket, normalized_prefix(cloud.prefix) + root,
            buyer_bucket=True, copies=True,
        )  # fmt: skip
    return TargetSpec(
        data_service_id,
        mode,
        delivery_bucket,
        root,
        buyer_bucket=False,
        copies=mode in (DeliveryMode.BUCKET, DeliveryMode.MANAGED_FOLDER),
        principal=cloud.principal if mode is DeliveryMode.MANAGED_FOLDER else None,
    )


def manifest_uris(where: Where) -> tuple[str, str]:
    """Where the buyer reads manifest.jsonl and SHA256SUMS: beside the images in its bucket
    or managed folder, else through the files route (which lists them first)."""
    if where.files_url:
        return f"{where.files_url}#manifest.jsonl", f"{where.files_url}#SHA256SUMS"
    return f"{where.location}/manifest.jsonl", f"{where.location}/SHA256SUMS"


def refusal_detail(spec: TargetSpec, service_account: str) -> str:
    """What the buyer must grant for its bucket to take the delivery: the account, the
    role, and the one command that grants it."""
    # Unset locally (no IAM to name): the line still shows where the email goes.
    account = service_account or "DELIVERY_SERVICE_ACCOUNT_EMAIL"
    return (
        f"the bucket {spec.bucket} refused a test write by the platform's delivery service "
        f"account {account}: grant it "
        f"{OBJECT_CREATOR} on the bucket, e.g. `gcloud storage buckets add-iam-policy-binding "
        f"gs://{spec.bucket} --member=serviceAccount:{account} --role={OBJECT_CREATOR}`, "
        "then order again"
    )


@dataclass(frozen=True)
class Where:
    """Where a service's data is and how the buyer fetches it: only what the buyer can
    read (its bucket, its managed folder, the files route, the DICOMweb base URL)."""

    target_type: str
    location: str
    fetch_hint: str
    files_url: str | None = None
    dicomweb_url: str | None = None
    access_until: str | None = None


def where_of(spec: TargetSpec, public_url: str, access_until: str | None = None) -> Where:
    api = f"{public_url.rstrip('/')}/v1/data-services/{spec.data_service_id}"
    files = f"{api}/files"
    if spec.mode is DeliveryMode.DICOMWEB:
        base = f"{api}/dicomweb"
        return Where(
            spec.mode.value, base, f"DICOMweb (QIDO-RS/WADO-RS) at {base} with your token",
            files_url=files, dicomweb_url=base,
        )  # fmt: skip
    if spec.buyer_bucket or spec.mode is DeliveryMode.MANAGED_FOLDER:
        location = f"gs://{spec.bucket}/{spec.root}".rstrip("/")
        return Where(
            spec.mode.value, location, f"gcloud storage cp -r {location} .",
            access_until=access_until,
        )  # fmt: skip
    # links, and a bucket target without a bucket of the buyer's: the files route signs
    # a short-lived URL of every file at each request.
    return Where(
        spec.mode.value, files,
        f"GET {files} with your token: each file's url reads it for minutes; page with cursor",
        files_url=files,
    )  # fmt: skip


def _instant(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw[:40])
    except ValueError:
        raise DataServiceError("invalid_date", "an ISO 8601 date-time", field=name) from None
    if moment.tzinfo is None:
        raise DataServiceError("invalid_date", "give the time zone (Z)", field=name)
    return rfc3339(moment)


def normalized_criteria(
    criteria: DatasetCriteria, allowance: PlanAllowance | None
) -> DatasetCriteria:
    """The criteria as they are stored and resolved: codes upper-cased as the catalogue
    stores them, dates in the stored form, and the rules a dataset obeys (without an
    allowance, no plan's: a buyer browsing the catalogue's counts orders nothing)."""
    split = criteria.split
    if split.train + split.validation + split.test != 100:
        raise DataServiceError(
            "invalid_split", "train, validation and test add up to 100", field="dataset.split"
        )
    if (
        allowance is not None
        and criteria.max_images is not None
        and criteria.max_images > allowance.max_images
    ):
        raise DataServiceError(
            "dataset_exceeds_plan",
            f"the plan allows {allowance.max_images} images",
            field="dataset.criteria.max_images",
        )
    start = _instant(criteria.ingested_from, "dataset.criteria.ingested_from")
    end = _instant(criteria.ingested_to, "dataset.criteria.ingested_to")
    if start and end and start >= end:
        raise DataServiceError(
            "invalid_date_range", "ingested_from is before ingested_to", field="dataset.criteria"
        )

    def code(value: str | None) -> str | None:
        return value.strip().upper() or None if value else None

    return criteria.model_copy(
        update={
            "modality": code(criteria.modality),
            "anatomical_region": code(criteria.anatomical_region),
            "pathology": code(criteria.pathology),
            "sources": sorted({s.strip() for s in criteria.sources}),
            "ingested_from": start,
            "ingested_to": end,
        }
    )


def validate_client_code(code: str) -> None:
    if not _CODE.match(code):
        raise DataServiceError(
            "invalid_client_code", "1-32 letters, digits, _ or -", field="client_code"
        )


def validate_dataset_code(code: str) -> None:
    if not _CODE.match(code):
        raise DataServiceError(
            "invalid_dataset_code", "1-32 letters, digits, _ or -", field="dataset.code"
        )


def validate_create(command: CreateDataServiceV2) -> tuple[PlanAllowance, DatasetCriteria]:
    """The rules a create command can be checked against without any state (the HTTP door
    runs them too, so a client learns at once what is wrong)."""
    validate_client_code(command.client_code)
    allowance = allowance_or_error(command.plan.code)
    delivery_mode(command.target_cloud)
    validate_dataset_code(command.dataset.code)
    return allowance, normalized_criteria(command.dataset.criteria, allowance)


def validate_data_request(request: SubmitDataRequest, plan_code: str) -> DatasetCriteria:
    """A client's data request checked against its subscription's plan: the rules its data
    service will be created with, so that what the door accepts the create accepts too."""
    allowance = allowance_or_error(plan_code)
    delivery_mode(request.target_cloud)
    validate_dataset_code(request.dataset.code)
    return normalized_criteria(request.dataset.criteria, allowance)


def speciality_of(asked: str | None, criteria: DatasetCriteria) -> str:
    """The speciality of the experts a service needs: the one asked for, else its region's."""
    return speciality_code(asked or criteria.anatomical_region or GENERAL)


@dataclass(frozen=True)
class ManifestSummary:
    """What a frozen manifest holds, recorded on the service when it starts."""

    manifest_id: str
    images: int
    patients: int
    chunks: int
    bytes: int
    splits: dict[str, int]
    digest: str


@dataclass(frozen=True)
class Delivery:
    objects: int
    bytes: int
    manifest_uri: str
    checksums_uri: str
    delivered_at: str
    links_uri: str | None = None
    links_expire_at: str | None = None
    access_until: str | None = None  # a managed folder's read grant ends then


@dataclass(kw_only=True, eq=False)
class DataService(Aggregate):
    subscription_id: str
    # The client by code only: nothing here needs its names (the subscriptions context
    # holds the person).
    client_code: str
    plan_code: str
    cloud: CloudTarget
    dataset_code: str
    dataset_name: str
    criteria: DatasetCriteria
    speciality: str
    status: Status
    created_at: str
    expert_code: str | None = None
    assigned_at: str | None = None
    manifest: ManifestSummary | None = None
    delivery: Delivery | None = None
    prepared_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    end_reason: str | None = None
    # The expert's review (review.py): a start waits for the approval when it is required;
    # a start asked for before it is held (recorded, nothing announced) until then.
    review_required: bool = False
    approved_at: str | None = None
    start_requested_at: str | None = None
    previous_manifests: list[str] = field(default_factory=list)
    _held: bool = field(default=False, init=False, repr=False)

    @classmethod
    def create(cls, command: CreateDataServiceV2, now: datetime) -> DataService:
        allowance, criteria = validate_create(command)
        speciality = speciality_of(command.speciality, criteria)
        service = cls(
            id=command.data_service_id,
            subscription_id=command.subscription_id,
            client_code=command.client_code,
            plan_code=allowance.code,
            cloud=command.target_cloud,
            dataset_code=command.dataset.code,
            dataset_name=command.dataset.name,
            criteria=criteria,
            speciality=speciality,
            status=Status.CREATED,
            created_at=rfc3339(now),
            review_required=command.review_required,
        )
        service.record(
            DataServiceCreated(
                data_service_id=service.id,
                subscription_id=service.subscription_id,
                client_code=service.client_code,
                plan=allowance.code,
                cloud_type=service.mode.value,
                dataset_code=service.dataset_code,
                speciality=speciality,
                status=service.status.value,
                created_at=service.created_at,
            )
        )
        return service

    @property
    def mode(self) -> DeliveryMode:
        return delivery_mode(self.cloud)

    @property
    def allowance(self) -> PlanAllowance:
        return allowance_or_error(self.plan_code)

    @staticmethod
    def prefix_of(data_service_id: str) -> str:
        """Where a service's delivery lives in the delivery bucket."""
        return f"{data_service_id}/"

    @property
    def prefix(self) -> str:
        return self.prefix_of(self.id)

    # -- experts --------------------------------------------------------------------------
    def ensure_assignable(self, expert: Expert) -> None:
        """What an assignment of `expert` is refused for before any of its slots is chosen."""
        if self.status not in _ASSIGNABLE:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        if expert.id == self.expert_code:
            raise DataServiceError(
                "expert_already_assigned", "that expert is assigned already", field="expert_code"
            )
        try:
            expert.check_assignable(self.speciality)
        except ExpertError as error:
            raise DataServiceError(error.reason, error.detail, field=error.field) from None

    def assign(self, expert: Expert, slot: ExpertSlot, now: datetime) -> str | None:
        """Assign (or reassign) `expert` in one of its slots; returns the expert it replaces,
        whose slot the caller releases."""
        self.ensure_assignable(expert)
        try:
            expert.take(slot, self.id, self.speciality, now, self.subscription_id)
        except ExpertError as error:
            raise DataServiceError(error.reason, error.detail, field=error.field) from None
        previous, self.expert_code = self.expert_code, expert.id
        self.assigned_at = rfc3339(now)
        if self.status is Status.CREATED:
            self.status = Status.EXPERT_ASSIGNED
        self.record(
            ExpertAssigned(
                data_service_id=self.id,
                expert_code=expert.id,
                previous_expert_code=previous,
                speciality=self.speciality,
                assigned_at=self.assigned_at,
            )
        )
        return previous

    # -- the dataset, then the start -------------------------------------------------------
    def ensure_preparable(self) -> None:
        if self.status in _ENDED:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        if self.status not in (Status.CREATED, Status.EXPERT_ASSIGNED):
            raise DataServiceError("already_started", f"the service is {self.status.value}")
        if self.manifest is not None:
            raise DataServiceError("dataset_already_prepared", "the manifest is frozen already")

    def prepare(self, manifest: ManifestSummary, now: datetime) -> None:
        """Freeze the resolved dataset: the start delivers exactly these images."""
        self.ensure_preparable()
        if manifest.images == 0:
            raise DataServiceError("dataset_empty", "the criteria match no image")
        if manifest.images > self.allowance.max_images:
            raise DataServiceError(
                "dataset_exceeds_plan", f"the plan allows {self.allowance.max_images} images"
            )
        self.manifest = manifest
        self.prepared_at = rfc3339(now)
        self.record(
            DatasetPrepared(
                data_service_id=self.id,
                manifest_id=manifest.manifest_id,
                images=manifest.images,
                patients=manifest.patients,
                chunks=manifest.chunks,
                splits=manifest.splits,
                manifest_digest=manifest.digest,
                prepared_at=self.prepared_at,
            )
        )

    def ensure_startable(self) -> None:
        if self.status in _ENDED:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        if self.status is Status.CREATED or self.expert_code is None:
            raise DataServiceError("expert_required", "assign an expert before the start")
        if self.status is not Status.EXPERT_ASSIGNED:
            raise DataServiceError("already_started", f"the service is {self.status.value}")
        if self.manifest is None:
            raise DataServiceError("dataset_required", "prepare the dataset before the start")

    def start(self, now: datetime) -> None:
        """Deliver the prepared manifest (an expert and a prepared dataset: both required).
        A service whose review is required and not approved yet holds the start: recorded,
        it begins with the approval (approve)."""
        if (
            self.start_requested_at is not None
            and self.status not in _ENDED
            and (self.status is not Status.EXPERT_ASSIGNED or self.approved_at is None)
        ):
            return  # held still, or released already: a resent start changes nothing
        self.ensure_startable()
        if self.review_required and self.approved_at is None:
            self.start_requested_at = rfc3339(now)
            self._held = True  # saved with no event
            return
        manifest = self.manifest
        assert manifest is not None
        self.status = Status.STARTED
        self.started_at = rfc3339(now)
        self.record(
            DataServiceStarted(
                data_service_id=self.id,
                manifest_id=manifest.manifest_id,
                delivery_mode=self.mode.value,
                images=manifest.images,
                patients=manifest.patients,
                chunks=manifest.chunks,
                splits=manifest.splits,
                manifest_digest=manifest.digest,
                started_at=self.started_at,
            )
        )

    # -- the expert's review ----------------------------------------------------------------
    def ensure_reviewable(self, expert_code: str) -> None:
        """The dataset may be revised or approved by its expert: assigned, prepared, not
        started."""
        if self.status in _ENDED:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        if self.status is not Status.EXPERT_ASSIGNED:
            if self.status is Status.CREATED:
                raise DataServiceError("expert_required", "no expert is assigned")
            raise DataServiceError("already_started", f"the service is {self.status.value}")
        if expert_code != self.expert_code:
            raise DataServiceError(
                "not_assigned_expert", "another expert is assigned", field="expert_code"
            )
        if self.manifest is None:
            raise DataServiceError("dataset_required", "the dataset is not prepared yet")

    def ensure_revisable(self, expert_code: str) -> None:
        self.ensure_reviewable(expert_code)
        if self.approved_at is not None:
            raise DataServiceError("already_approved", "the dataset is approved already")

    def revise(
        self, expert_code: str, manifest: ManifestSummary, reason: ExclusionReason, excluded: int,
        now: datetime,
    ) -> None:  # fmt: skip
        """Replace the prepared manifest with a version without some images (review.py);
        the replaced one stays stored under its id."""
        self.ensure_revisable(expert_code)
        if manifest.images == 0:
            raise DataServiceError("dataset_empty", "an exclusion cannot take every image")
        previous = self.manifest
        assert previous is not None
        if manifest.manifest_id == previous.manifest_id:
            return
        self.previous_manifests.append(previous.manifest_id)
        self.manifest = manifest
        self.record(
            ImagesExcluded(
                data_service_id=self.id,
                previous_manifest_id=previous.manifest_id,
                manifest_id=manifest.manifest_id,
                reason=reason,
                excluded=excluded,
                images=manifest.images,
                patients=manifest.patients,
                chunks=manifest.chunks,
                splits=manifest.splits,
                manifest_digest=manifest.digest,
                excluded_at=rfc3339(now),
            )
        )

    def approve(self, expert_code: str, now: datetime) -> bool:
        """The expert approves the latest manifest version; True when a held start is
        released by it (the caller starts the delivery). A second approval: nothing."""
        if self.approved_at is not None and self.status is not Status.CREATED:
            if expert_code != self.expert_code:
                raise DataServiceError(
                    "not_assigned_expert", "another expert is assigned", field="expert_code"
                )
            return False
        self.ensure_reviewable(expert_code)
        manifest = self.manifest
        assert manifest is not None
        self.approved_at = rfc3339(now)
        released = self.start_requested_at is not None
        self.record(
            DatasetApproved(
                data_service_id=self.id,
                expert_code=expert_code,
                manifest_id=manifest.manifest_id,
                images=manifest.images,
                start_released=released,
                approved_at=self.approved_at,
            )
        )
        return released

    @property
    def has_changes(self) -> bool:
        return self._held or super().has_changes

    def links_expire_at(self, now: datetime) -> str | None:
        if self.mode is not DeliveryMode.LINKS:
            return None
        return rfc3339(now + timedelta(hours=self.allowance.link_hours))

    def access_until(self, now: datetime) -> str | None:
        """When a managed folder's read grant ends: the plan's access window from the
        delivery (finish or cancel revoke it sooner)."""
        if self.mode is not DeliveryMode.MANAGED_FOLDER:
            return None
        return rfc3339(now + timedelta(hours=self.allowance.link_hours))

    def target(self, delivery_bucket: str) -> TargetSpec:
        return target_spec(self.id, self.cloud, delivery_bucket)

    def is_delivering(self, manifest_id: str) -> bool:
        return (
            self.status is Status.STARTED
            and self.manifest is not None
            and self.manifest.manifest_id == manifest_id
        )

    def record_delivery(
        self, manifest_id: str, delivery: Delivery, where: Where | None = None
    ) -> None:
        if not self.is_delivering(manifest_id):
            raise DataServiceError("not_delivering", f"the service is {self.status.value}")
        self.delivery = delivery
        self.status = Status.DELIVERED
        self.record(
            DataServiceDelivered(
                data_service_id=self.id,
                manifest_id=manifest_id,
                delivery_mode=self.mode.value,
                objects=delivery.objects,
                bytes=delivery.bytes,
                manifest_uri=delivery.manifest_uri,
                checksums_uri=delivery.checksums_uri,
                links_expire_at=delivery.links_expire_at,
                delivered_at=delivery.delivered_at,
                target_type=self.mode.value,
                location=where.location if where else None,
                fetch_hint=where.fetch_hint if where else None,
                access_until=delivery.access_until,
            )
        )

    def fail(self, manifest_id: str, reason: str, detail: str, now: datetime) -> None:
        if not self.is_delivering(manifest_id):
            raise DataServiceError("not_delivering", f"the service is {self.status.value}")
        self._end(Status.FAILED, reason, now)
        self.record(
            DataServiceFailed(
                data_service_id=self.id,
                manifest_id=manifest_id,
                reason=reason,
                detail=detail,
                failed_at=rfc3339(now),
            )
        )

    # -- the end ------------------------------------------------------------------------------
    def finish(self, now: datetime) -> None:
        if self.status in _ENDED:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        if self.status is not Status.DELIVERED or self.delivery is None or self.manifest is None:
            raise DataServiceError("not_delivered", "finish comes after the delivery")
        self._end(Status.FINISHED, "finished", now)
        self.record(
            DataServiceFinished(
                data_service_id=self.id,
                manifest_id=self.manifest.manifest_id,
                objects_delivered=self.delivery.objects,
                revocation=self.revocation,
                links_expire_at=self.delivery.links_expire_at,
                finished_at=rfc3339(now),
            )
        )

    def cancel(self, reason: str, now: datetime) -> None:
        if self.status in _ENDED:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        previous = self.status
        code = cancellation_code(reason)
        self._end(Status.CANCELLED, code, now)
        self.record(
            DataServiceCancelled(
                data_service_id=self.id,
                previous_status=previous.value,
                reason=code,
                cancelled_at=rfc3339(now),
            )
        )

    def _end(self, status: Status, reason: str, now: datetime) -> None:
        self.status = status
        self.ended_at = rfc3339(now)
        self.end_reason = reason

    @property
    def revocation(self) -> str:
        """How access ends: the platform's copies deleted (and a managed folder's grant
        revoked), the files route refusing at once (links, dicomweb), or nothing the
        platform may take back (the buyer's own bucket holds its copies)."""
        if self.cloud.bucket and self.mode is DeliveryMode.BUCKET:
            return "buyer_owned"
        if self.mode in (DeliveryMode.LINKS, DeliveryMode.DICOMWEB):
            return "links_stop"
        return "copies_deleted"

    @property
    def has_copies(self) -> bool:
        """Whether files may have been written to the platform's delivery bucket (to
        delete at the end: copies, or only the manifest files of links and dicomweb); the
        copies in a buyer's bucket are the buyer's."""
        return (
            self.started_at is not None
            and self.manifest is not None
            and self.revocation != "buyer_owned"
        )
