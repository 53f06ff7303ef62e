"""What the contexts' query doors answer, as the api shows it: each answer is read into one
of these models before it is sent, so the api answers exactly what its document declares.

Where the api shows a door's record as the door answers it, the model is the door's own
read model, imported from its context's published contract (functions/<context>/views.py,
shared/entrypoints for the command status and the dead letters): one definition, so the
api's document and the door's cannot drift. The models defined here are the api's own
shapes, each saying why it is not the door's.

A field a door adds is left out until the api declares it (a door deployed before the api
changes nothing the api's callers see); a declared field a door breaks is a door that broke
its contract: 503, like one that does not answer. Nested records the api passes on without
reading (a data service's cloud, dataset, manifest and delivery, a saga's steps and facts)
are JSON objects in the api's own shapes: their shape is their context's.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from functions.api.parameters import SagaStatusName
from functions.data_services.messages import ClientCode, DatasetQuoteView
from functions.notifications.messages import NotificationView
from functions.sagas.messages import SagaLogEntry
from functions.subscriptions.messages import PlanView, SubscriptionView
from shared.entrypoints.command_door import CommandStatus
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


# -- ingestion -----------------------------------------------------------------------------
class Rejection(BaseModel):
    """A quarantined upload of the caller's (the center is the caller: not repeated)."""

    # Not ingestion's RejectionView: the api leaves out its data_source, the caller's own.

    rejection_id: str
    reason: str | None = None
    detail: str | None = None
    package_id: str | None = None
    entry_index: int | None = None
    rejected_at: str | None = None


# -- data services -------------------------------------------------------------------------
class DataService(BaseModel):
    # Not data_services' DataServiceView: its nested records are passed on as the door
    # answered them (JSON objects, not re-read with their defaults filled in), and a
    # listing has no `progress` (the door answers it for one service only).
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


class Quote(DatasetQuoteView):
    """Data services' quote of a dataset with the plan's price: the api's own, since one
    context counts the catalogue and the other sells the plans."""

    price: PlanView


# -- notifications -------------------------------------------------------------------------
class Notification(NotificationView):
    summary: str = ""  # "<template> by <channel>: <status>", for the live page (api's own)


class Notifications(BaseModel):
    """What the caller was told, newest first (`available`: the notifications door
    answered)."""

    available: bool
    items: list[Notification]
    next_cursor: str | None


# -- sagas ---------------------------------------------------------------------------------
class SagaLog(BaseModel):
    """A saga's log, oldest first."""

    items: list[SagaLogEntry]
    next_cursor: str | None


class Saga(BaseModel):
    # Not sagas' SagaView: its steps and facts are passed on as the door answered them.
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
    subscription: SubscriptionView | None
    saga: TimelineSaga
    notifications: TimelineNotifications
