"""What the contexts' query doors answer, as the api shows it: each answer is read into one
of these models before it is sent, so the api answers exactly what its document declares.

A field a door adds is left out until the api declares it (a door deployed before the api
changes nothing the api's callers see); a declared field a door breaks is a door that broke
its contract: 503, like one that does not answer. Nested records the api passes on without
reading (a data service's cloud and dataset, an image's pixel cleaning, a saga's steps and
facts) are JSON objects here: their shape is their context's.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from functions.api.parameters import SagaStatusName
from shared.ports.doors import DoorUnavailable

JsonObject = dict[str, Any]
Shown = TypeVar("Shown", bound=BaseModel)


def shown(model: type[Shown], found: Any, source: str) -> Shown:
    """`found` (a door's answer, or a composition of them) as the api answers it."""
    try:
        return model.model_validate(found)
    except ValidationError as error:
        where = ".".join(str(p) for p in error.errors()[0]["loc"])
        raise DoorUnavailable(
            f"{source} answered outside the api's {model.__name__}: {where}"
        ) from None


# -- subscriptions -------------------------------------------------------------------------
class SubscriptionClient(BaseModel):
    """The client of a subscription, without its tax and national ids (never shown)."""

    code: str
    first_names: str | None = None
    last_names: str | None = None
    username: str | None = None
    email: str | None = None


class SubscribedPlan(BaseModel):
    """The plan as it was sold: a subscription keeps its price if the catalogue changes."""

    code: str
    name: str
    price_cents: int
    currency: str
    billing_period: str
    provisions_data_service: bool


class Invoice(BaseModel):
    payment_id: str
    amount_cents: int
    currency: str
    status: str  # PAID | DECLINED | REFUNDED
    at: str
    transaction_id: str = ""
    reason: str = ""
    refund_id: str = ""
    refunded_at: str = ""


class Subscription(BaseModel):
    subscription_id: str
    client: SubscriptionClient
    plan: SubscribedPlan
    status: str
    created_at: str
    paid_through: str | None = None
    cancelled_at: str | None = None
    invoices: list[Invoice] = []
    version: int = 0


class CommandStatus(BaseModel):
    """What became of a command: pending until its context processed it."""

    command_id: str
    command_type: str | None = None
    status: Literal["pending", "applied", "rejected", "dead_lettered"]
    reason: str | None = None
    event_types: list[str] = []
    correlation_id: str | None = None
    accepted_at: str | None = None
    processed_at: str | None = None
    recorded_at: str | None = None
    delivery_attempts: int | None = None


# -- ingestion -----------------------------------------------------------------------------
class Image(BaseModel):
    """A catalogue entry (anonymized: a patient token, never the patient)."""

    image_id: str
    data_source: str
    patient_token: str | None = None
    study_id: str | None = None
    series_id: str | None = None
    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    image_format: str | None = None
    uri: str | None = None
    size: int | None = None
    sha256: str | None = None
    profile: str | None = None
    options: list[str] | None = None
    ingested_at: str | None = None
    package_id: str | None = None
    pixel_cleaning: JsonObject | None = None
    has_clinical_history: bool = False


class Rejection(BaseModel):
    """A quarantined upload of the caller's (the center is the caller: not repeated)."""

    rejection_id: str
    reason: str | None = None
    detail: str | None = None
    package_id: str | None = None
    entry_index: int | None = None
    rejected_at: str | None = None


# -- data services -------------------------------------------------------------------------
class ClientCode(BaseModel):
    code: str


class DataService(BaseModel):
    data_service_id: str
    subscription_id: str
    client: ClientCode
    plan: str
    cloud: JsonObject
    dataset: JsonObject
    speciality: str | None = None
    status: str
    expert_code: str | None = None
    created_at: str
    assigned_at: str | None = None
    prepared_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    end_reason: str | None = None
    manifest: JsonObject | None = None
    delivery: JsonObject | None = None
    version: int = 0


# -- notifications -------------------------------------------------------------------------
class Notification(BaseModel):
    notification_id: str
    recipient_id: str | None = None
    channel: str | None = None
    template: str | None = None
    status: str | None = None
    attempts: int | None = None
    cause_event_id: str | None = None
    cause_event_type: str | None = None
    created_at: str | None = None
    next_attempt_at: str | None = None
    last_reason: str | None = None
    sent_at: str | None = None
    failed_at: str | None = None
    confirmed_at: str | None = None
    version: int | None = None
    summary: str = ""  # "<template> by <channel>: <status>", for the live page


class Notifications(BaseModel):
    """What the caller was told, newest first (`available`: the notifications door
    answered)."""

    available: bool
    items: list[Notification]
    next_cursor: str | None


# -- sagas ---------------------------------------------------------------------------------
class SagaLogEntry(BaseModel):
    saga_id: str
    seq: int
    at: str
    step: str
    phase: str | None = None
    status: Literal["RECEIVED", "PROCESSED", "FAILED"]
    message_id: str | None = None
    message_type: str | None = None
    command_ids: list[str] = []
    reason: str | None = None


class SagaLog(BaseModel):
    """A saga's log, oldest first."""

    items: list[SagaLogEntry]
    next_cursor: str | None


class Saga(BaseModel):
    saga_id: str
    definition: str
    subscription_id: str
    client_code: str | None = None
    correlation_id: str | None = None
    status: SagaStatusName
    started_at: str
    deadline_at: str | None = None
    ended_at: str | None = None
    failed_step: str | None = None
    failure: str | None = None
    wake_at: str | None = None
    log_length: int = 0
    done_count: int = 0
    steps: list[JsonObject] = []
    facts: JsonObject = {}
    version: int = 0


class SagaWithLog(Saga):
    log: SagaLog


# -- dead letters --------------------------------------------------------------------------
class DeadLetter(BaseModel):
    """What died, where and why (never the message)."""

    dead_letter_id: str
    context: str | None = None
    ce_id: str | None = None
    ce_type: str | None = None
    reason: str | None = None
    delivery_attempts: int | None = None
    recorded_at: str | None = None
    status: str | None = None
    redriven_at: str | None = None


# -- the timeline of a command -------------------------------------------------------------
class TimelineStep(SagaLogEntry):
    name: str  # "<step> <status>"


class TimelineSaga(BaseModel):
    available: bool
    steps: list[TimelineStep]


class TimelineNotifications(BaseModel):
    available: bool
    items: list[Notification]


class Timeline(BaseModel):
    """A command, the subscription it made, its saga's steps and the notifications sent."""

    command: CommandStatus
    subscription: Subscription | None
    saga: TimelineSaga
    notifications: TimelineNotifications
