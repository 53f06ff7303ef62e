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
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from functions.data_services.experts import Expert, ExpertError, speciality_code
from functions.data_services.messages import (
    CloudTarget,
    CreateDataServiceV2,
    DataServiceCancelled,
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    DataServiceFinished,
    DataServiceStarted,
    DatasetCriteria,
    DatasetPrepared,
    ExpertAssigned,
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
    BUCKET = "bucket"  # copies under the service's prefix of the delivery bucket
    LINKS = "links"  # time-limited signed URLs of the anonymized objects


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
    try:
        return DeliveryMode(cloud.type.strip().lower())
    except ValueError:
        raise DataServiceError(
            "unknown_cloud_type", "cloud.type is bucket or links", field="cloud.type"
        ) from None


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


def normalized_criteria(criteria: DatasetCriteria, allowance: PlanAllowance) -> DatasetCriteria:
    """The criteria as they are stored and resolved: codes upper-cased as the catalogue
    stores them, dates in the stored form, and the rules a dataset obeys."""
    split = criteria.split
    if split.train + split.validation + split.test != 100:
        raise DataServiceError(
            "invalid_split", "train, validation and test add up to 100", field="dataset.split"
        )
    if criteria.max_images is not None and criteria.max_images > allowance.max_images:
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
    delivery_mode(command.cloud)
    validate_dataset_code(command.dataset.code)
    return allowance, normalized_criteria(command.dataset.criteria, allowance)


def validate_data_request(request: SubmitDataRequest, plan_code: str) -> DatasetCriteria:
    """A client's data request checked against its subscription's plan: the rules its data
    service will be created with, so that what the door accepts the create accepts too."""
    allowance = allowance_or_error(plan_code)
    delivery_mode(request.cloud)
    validate_dataset_code(request.dataset.code)
    return normalized_criteria(request.dataset.criteria, allowance)


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

    @classmethod
    def create(cls, command: CreateDataServiceV2, now: datetime) -> DataService:
        allowance, criteria = validate_create(command)
        speciality = speciality_code(command.speciality or criteria.anatomical_region or GENERAL)
        service = cls(
            id=command.data_service_id,
            subscription_id=command.subscription_id,
            client_code=command.client_code,
            plan_code=allowance.code,
            cloud=command.cloud,
            dataset_code=command.dataset.code,
            dataset_name=command.dataset.name,
            criteria=criteria,
            speciality=speciality,
            status=Status.CREATED,
            created_at=rfc3339(now),
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
    def assign(self, expert: Expert, now: datetime) -> str | None:
        """Assign (or reassign) `expert`; returns the expert it replaces, whose place the
        caller releases."""
        if self.status not in _ASSIGNABLE:
            raise DataServiceError("service_ended", f"the service is {self.status.value}")
        if expert.id == self.expert_code:
            raise DataServiceError(
                "expert_already_assigned", "that expert is assigned already", field="expert_code"
            )
        try:
            expert.take(self.id, self.speciality)
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
        """Deliver the prepared manifest (an expert and a prepared dataset: both required)."""
        self.ensure_startable()
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

    def links_expire_at(self, now: datetime) -> str | None:
        if self.mode is not DeliveryMode.LINKS:
            return None
        return rfc3339(now + timedelta(hours=self.allowance.link_hours))

    def is_delivering(self, manifest_id: str) -> bool:
        return (
            self.status is Status.STARTED
            and self.manifest is not None
            and self.manifest.manifest_id == manifest_id
        )

    def record_delivery(self, manifest_id: str, delivery: Delivery) -> None:
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
        links = self.mode is DeliveryMode.LINKS
        self.record(
            DataServiceFinished(
                data_service_id=self.id,
                manifest_id=self.manifest.manifest_id,
                objects_delivered=self.delivery.objects,
                revocation="links_expire" if links else "copies_deleted",
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
    def has_copies(self) -> bool:
        """Whether objects may have been copied to the delivery bucket (to revoke)."""
        return (
            self.started_at is not None
            and self.manifest is not None
            and self.mode is DeliveryMode.BUCKET
        )
