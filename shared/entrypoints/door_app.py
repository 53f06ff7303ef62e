"""A context's doors on top of http_app: the app of each door, the types of its path and
query parameters, and the page every list answers.

    queries = door_app("subscriptions queries", "...")   # http_app + GET /openapi.json

    @queries.get("/subscriptions/<subscription_id>",
                  responses=answers(SubscriptionView, 400, 404, 503))
    def get_subscription(path: SubscriptionPath, query: ClientScope) -> flask.Response:
        return answer(SubscriptionView, or_not_found(found, "subscription_not_found", "..."))

- Every door publishes its generated contract at `GET /openapi.json` (left out of the
  document itself), so the api and operators can read what each door takes and answers.
- A path id is a `DocumentId`: what every store takes as a document id. Anything else
  ("..", "%2e%2e" once decoded, "__x__", 300 characters) is 404 `not_found`, as a resource
  that does not exist, never a store error.
- A route's query model derives from `Parameters` (NoParameters when it takes none): an
  unknown parameter is 400 `unknown_parameter`, since a filter silently ignored answers
  another question than the one asked; a required one missing or empty is 400
  `missing_parameter`. `Limit` and `Cursor` refuse with `invalid_limit` and `invalid_cursor`.
- No query value reaches a store unbounded: a string parameter whose type declares no
  max_length takes at most MAX_QUERY_VALUE_BYTES (what Firestore takes of a document id or
  of an indexed value), else 400 `value_too_long`; an id given as a query value is a
  `QueryId` (400 `invalid_id` for what is no document id).
- `answer(model, value)`: what a door answers is its read model, validated by the model and
  serialised with the fields the value holds (a field a read model leaves out stays out).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import annotated_types
import flask
from flask_openapi3.openapi import OpenAPI
from flask_openapi3.types import ResponseDict
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUseDefault

from shared.domain.errors import PermanentError
from shared.entrypoints.http import HttpError, json_response
from shared.entrypoints.http_app import http_app, openapi_document, refusals
from shared.logging import get_logger
from shared.ports.documents import DOCUMENT_ID_PATTERN, is_document_id
from shared.service.pagination import (
    MAX_CURSOR_CHARS,
    MAX_PAGE_SIZE,
    decode_cursor,
    page_size,
    refuse_unknown_parameters,
)

CONTRACT_PATH = "/openapi.json"
# Firestore refuses a document id, and an indexed value in a query, over 1,500 bytes.
MAX_QUERY_VALUE_BYTES = 1500
T = TypeVar("T")

log = get_logger(__name__)


def door_app(title: str, description: str = "") -> OpenAPI:
    """The app of one door (one HTTP function), with its contract at GET /openapi.json."""
    app = http_app(title, description)
    # "/subscriptions/" is "/subscriptions", as the doors' routers always took it.
    app.url_map.strict_slashes = False
    add_contract_route(app)
    return app


def add_contract_route(app: OpenAPI) -> None:
    """GET /openapi.json: the app's generated OpenAPI 3.1 document."""

    def contract() -> flask.Response:
        return json_response(openapi_document(app))

    # A plain Flask rule: the document describes the door's operations, not itself.
    app.add_url_rule(CONTRACT_PATH, "openapi_contract", contract, methods=["GET"])


# -- path ------------------------------------------------------------------------------------
def _document_id(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and not is_document_id(value):
        raise HttpError(404, "not_found", f"no such resource ({info.field_name} is not a valid id)")
    return value


# The checker runs before the pattern: an odd id is a resource that does not exist (404),
# not a malformed request; the pattern documents the rule in the contract.
DocumentId = Annotated[str, Field(pattern=DOCUMENT_ID_PATTERN), BeforeValidator(_document_id)]


# -- query -----------------------------------------------------------------------------------
def _query_id(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and value and not is_document_id(value):
        field = info.field_name
        raise PermanentError("invalid_id", f"{field} is not a valid id", field=field)
    return value or None


# An id given as a query value (a filter on it, or a path the door builds with it).
QueryId = Annotated[
    Annotated[str, Field(pattern=DOCUMENT_ID_PATTERN)] | None, BeforeValidator(_query_id)
]


def _declared_max_length(annotation: Any) -> int | None:
    """The max_length a parameter's type declares (in an Annotated, or in one of a union's
    members), None when it declares none."""
    if get_origin(annotation) is Annotated:
        for meta in getattr(annotation, "__metadata__", ()):
            for bound in meta.metadata if isinstance(meta, FieldInfo) else [meta]:
                if isinstance(bound, annotated_types.MaxLen):
                    return bound.max_length
        return _declared_max_length(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        bounds = [b for b in map(_declared_max_length, get_args(annotation)) if b is not None]
        return max(bounds) if bounds else None
    return None


def _refuse_unbounded(name: str, value: Any, field: FieldInfo) -> None:
    if not isinstance(value, str) or len(value) <= MAX_QUERY_VALUE_BYTES // 4:
        return
    declared = next(
        (m.max_length for m in field.metadata if isinstance(m, annotated_types.MaxLen)),
        _declared_max_length(field.annotation),
    )
    if declared is None and len(value.encode("utf-8", "surrogatepass")) > MAX_QUERY_VALUE_BYTES:
        raise PermanentError(
            "value_too_long", f"{name}: at most {MAX_QUERY_VALUE_BYTES} bytes", field=name
        )


class Parameters(BaseModel):
    """The query parameters of a route. Every value arrives as a string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_and_given(cls, given: Any) -> Any:
        # Before the fields, so an unknown or missing parameter is named first, with the
        # reasons the doors always answered rather than a generic schema_violation.
        if isinstance(given, Mapping):
            refuse_unknown_parameters(given, set(cls.model_fields))
            for name, field in cls.model_fields.items():
                if field.is_required() and not given.get(name):
                    raise PermanentError("missing_parameter", f"{name} is required", field=name)
                _refuse_unbounded(name, given.get(name), field)
        return given


class NoParameters(Parameters):
    """A route that takes no query parameter refuses every one."""


def _limit(raw: Any) -> Any:
    if raw is None or raw == "":
        raise PydanticUseDefault()
    return page_size(raw) if isinstance(raw, str) else raw


def _cursor(raw: Any) -> Any:
    if isinstance(raw, str):
        decode_cursor(raw)  # a cursor this API did not issue is 400 invalid_cursor, here
    return raw or None


Limit = Annotated[
    int,
    Field(ge=1, le=MAX_PAGE_SIZE, description="items per page"),
    BeforeValidator(_limit),
]
Cursor = Annotated[
    Annotated[str, Field(max_length=MAX_CURSOR_CHARS)] | None,
    Field(description="the next_cursor of the previous page"),
    BeforeValidator(_cursor),
]


class PageParameters(Parameters):
    limit: Limit = 20
    cursor: Cursor = None


# -- bodies ----------------------------------------------------------------------------------
class DoorBody(BaseModel):
    """A command door's request body, read as the commands themselves take them
    (shared/domain/messages.py): nothing unknown, strings trimmed, immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


# -- answers ---------------------------------------------------------------------------------
def answers(
    success: type[BaseModel] | dict[str, Any], *refused: int, status: int = 200
) -> ResponseDict:
    """An operation's answers: its success (a model, or a response object for another
    media type) and the refusals it declares, each in the one error shape."""
    declared: ResponseDict = {status: success}
    for refusal, error in refusals(*refused).items():
        declared[refusal] = error
    return declared


def or_not_found(value: T | None, reason: str, detail: str = "") -> T:
    if value is None:
        raise HttpError(404, reason, detail)
    return value


def answer(
    model: type[BaseModel],
    value: BaseModel | Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> flask.Response:
    """`value` answered as `model`: a model as it is, a dict (what queries.py returns)
    validated first and then written with exactly the keys it held."""
    if isinstance(value, BaseModel):
        if not isinstance(value, model):
            raise TypeError(f"{type(value).__name__} is not the {model.__name__} declared")
        return json_response(value.model_dump(mode="json"), status, headers)
    typed = model.model_validate(value)
    unnamed = sorted(set(value) - set(type(typed).model_fields))
    if unnamed:
        log.warning("read_model_fields_not_answered", model=model.__name__, fields=unnamed[:20])
    return json_response(typed.model_dump(mode="json", exclude_unset=True), status, headers)
