"""The path, query and header models of the api's routes: what the framework validates and
the document declares. A query parameter a route's model does not name is refused (400
unknown_parameter, guard.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticUseDefault

from functions.data_services.messages import GroupBy
from shared.domain.errors import PermanentError
from shared.entrypoints.command_door import MAX_IDEMPOTENCY_KEY
from shared.ports.documents import DOCUMENT_ID_PATTERN, is_document_id
from shared.service.pagination import MAX_CURSOR_CHARS, MAX_PAGE_SIZE, page_size


def _page_size(raw: Any) -> Any:
    """`limit=` is the default; anything but a whole number in range is 400 invalid_limit,
    as every door answers it (a PermanentError passes through pydantic as it is)."""
    if raw == "":
        raise PydanticUseDefault()
    return page_size(raw) if isinstance(raw, str) else raw


def _id(value: str, info: ValidationInfo) -> str:
    """What every store takes as a document id: the pattern lets ".", ".." and "__x__"
    through, which Firestore refuses and a door's URL would not keep as one segment."""
    if not is_document_id(value):
        raise PermanentError(
            "invalid_id", f"{info.field_name} is not a valid id", field=info.field_name
        )
    return value


# An id, in the path or as a query value: the route converter (routing.py) matches no other
# id in a path (404); a query value that is no id is 400 invalid_id. Every model that takes
# an id takes this type.
Id = Annotated[str, Field(pattern=DOCUMENT_ID_PATTERN), AfterValidator(_id)]
PathId = Id
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE), BeforeValidator(_page_size)]
Cursor = Annotated[str, Field(max_length=MAX_CURSOR_CHARS)]
Filter = Annotated[str, Field(max_length=64)]
SagaStatusName = Literal["RUNNING", "COMPLETED", "COMPENSATING", "COMPENSATED", "STUCK"]
# The contexts of context_doors.DEAD_LETTER_DOORS (a unit test holds the two together).
DeadLetterContext = Literal["data_services", "ingestion", "notifications", "sagas", "subscriptions"]


# -- path ----------------------------------------------------------------------------------
class UserPath(BaseModel):
    user_id: PathId


class SubscriptionPath(BaseModel):
    subscription_id: PathId


class CommandPath(BaseModel):
    command_id: PathId


class ImagePath(BaseModel):
    image_id: PathId


class SagaPath(BaseModel):
    saga_id: PathId


# -- query ---------------------------------------------------------------------------------
class PageQuery(BaseModel):
    limit: PageSize = 20
    cursor: Cursor | None = None


class ImagesQuery(PageQuery):
    """A center's catalogue filters (never `center`: a center reads its own)."""

    modality: Filter | None = None
    anatomical_region: Filter | None = None
    pathology: Filter | None = None
    ingested_from: Filter | None = Field(None, description="ISO 8601 date or date-time")
    ingested_to: Filter | None = Field(None, description="ISO 8601, exclusive")


class CatalogueCountsQuery(BaseModel):
    """A buyer's criteria, each left out matching everything, and the breakdown's dimension
    (the data services door checks the values: dates, lengths)."""

    modality: Filter | None = None
    anatomical_region: Annotated[str, Field(max_length=128)] | None = None
    pathology: Annotated[str, Field(max_length=128)] | None = None
    sources: Annotated[str, Field(max_length=30 * 65)] | None = Field(
        None, description="data source codes, comma-separated"
    )
    ingested_from: Filter | None = Field(None, description="ISO 8601 date-time with its zone")
    ingested_to: Filter | None = Field(None, description="ISO 8601, exclusive")
    group_by: GroupBy | None = Field(None, description="a breakdown by one dimension")


class DeadLettersQuery(PageQuery):
    context: DeadLetterContext | None = Field(
        None, description="one context's dead letters; all merged newest first without it"
    )


class SagasQuery(PageQuery):
    subscription_id: Id | None = None
    status: SagaStatusName | None = Field(None, description="an operator's; STUCK by default")


class SagaQuery(BaseModel):
    log_limit: PageSize = 100
    log_cursor: Cursor | None = None


# -- headers -------------------------------------------------------------------------------
class CommandHeaders(BaseModel):
    """A command retried with the same key is the same command (per user)."""

    idempotency_key: Annotated[str, Field(max_length=MAX_IDEMPOTENCY_KEY)] | None = Field(
        None, alias="Idempotency-Key"
    )


class TimelineHeaders(BaseModel):
    if_none_match: Annotated[str, Field(max_length=1024)] | None = Field(
        None, alias="If-None-Match", description="the ETag of the timeline last read: 304"
    )
