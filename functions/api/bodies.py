"""The request bodies of the api's command routes, made of the contexts' own message models
so that a field's limits are written once: the document the api serves, the api's
validation and the context's command cannot disagree. (The identity routes take identity's
request messages as they are: functions/identity/messages.py.)"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from functions.api.uploads import FILE_NAME_PATTERN
from functions.data_services.messages import CloudTarget, DatasetSpec, SubmitDataRequest
from functions.subscriptions.messages import (
    CancelSubscription,
    ClientData,
    PaySubscription,
    PlanCode,
)


def field_of(message: type[BaseModel], name: str) -> Any:
    """A field of a context's message, its type's limits and default included, for a body
    that carries it on (`reason: str = field_of(CancelSubscription, "reason")`)."""
    return copy.deepcopy(message.model_fields[name])


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateSubscriptionBody(_Body):
    """CreateSubscription without its id (the context derives it from the command's)."""

    client: ClientData
    plan: PlanCode


class ChangePlanBody(_Body):
    plan: PlanCode


class CancelBody(_Body):
    reason: str = field_of(CancelSubscription, "reason")


class PayBody(_Body):
    """PaySubscription without its payment id (derived from the command's)."""

    card_token: str = field_of(PaySubscription, "card_token")


class UploadBody(_Body):
    file_name: Annotated[str, Field(pattern=FILE_NAME_PATTERN, description="a .dcm or a .zip")]


class DataRequestBody(_Body):
    """SubmitDataRequest without its subscription (in the path): the dataset (criteria, image
    and per-patient caps, splits), where it is delivered, the expert's speciality."""

    dataset: DatasetSpec
    cloud: CloudTarget
    speciality: str | None = field_of(SubmitDataRequest, "speciality")
    review_required: bool = field_of(SubmitDataRequest, "review_required")
