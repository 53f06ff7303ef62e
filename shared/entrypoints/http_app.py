"""The one way to serve HTTP: a flask-openapi3 app per HTTP function, typed by pydantic.

Each route declares its path, query and body models and its answers; the framework validates
the request before the view runs, and the OpenAPI 3.1 document is generated from the same
models, so the contract cannot drift from the code. What this module adds is the project's
error shape for everything the framework or a view refuses,
`{"error": {"reason": "<code>", "detail": "...", "field": "..."}}`:

- a request that fails its models: 400 `schema_violation` naming the first field;
- a body that is not JSON: 415 `unsupported_media_type` / 400 `malformed_json`; over the
  limit: 413 `body_too_large`;
- no such route: 404 `not_found`; another method: 405 `method_not_allowed`;
- the error taxonomy: HttpError as raised, PermanentError 400 (or its own status), a
  TransientError 503 `unavailable`.

A functions-framework entry point hands its request to `serve(app, request)`. Every operation
lists the refusals it can answer (`refusals(...)`): there is no catch-all `default`, so a
status the document does not declare fails the conformance check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import flask
from flask.ctx import RequestContext
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from shared.domain.errors import PermanentError, TransientError
from shared.entrypoints.http import MAX_BODY_BYTES, HttpError, error_response

_BODY_METHODS = {"POST", "PUT", "PATCH"}
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_TAKES_FORM = "takes_form"
_TAKES_STREAM = "takes_stream"
V = TypeVar("V", bound=Callable[..., Any])


class ErrorDetail(BaseModel):
    reason: str
    detail: str = ""
    field: str | None = None


class ErrorAnswer(BaseModel):
    """Every refusal of every door, the api's included."""

    error: ErrorDetail


def refusals(*statuses: int) -> dict[int, type[BaseModel]]:
    """The refusals an operation declares, each answered in the one error shape."""
    return dict.fromkeys(statuses, ErrorAnswer)


def _field(error: dict[str, Any]) -> str | None:
    location = ".".join(str(part) for part in error.get("loc", ()))
    return location or None


def _invalid(error: ValidationError) -> flask.Response:
    first: dict[str, Any] = dict(error.errors(include_input=False)[0]) if error.errors() else {}
    detail = str(first.get("msg", "the request does not match its schema"))
    return error_response(HttpError(400, "schema_violation", detail, _field(first)))


def takes_form(view: V) -> V:
    """A route that also takes an HTML form's body (application/x-www-form-urlencoded): a
    page a person submits in a browser, not a client of the API. Its view reads the form."""
    setattr(view, _TAKES_FORM, True)  # copied onto the framework's wrapper (functools.wraps)
    return view


def takes_stream(view: V) -> V:
    """A route that reads its own body, of its own media type and limit (STOW-RS): neither
    the JSON check nor the app's body limit applies; its view bounds what it reads."""
    setattr(view, _TAKES_STREAM, True)
    return view


def _check_json_body() -> None:
    """A body must be JSON: refused before the models see `null` for it."""
    request = flask.request
    if request.method not in _BODY_METHODS or request.content_length == 0:
        return
    view = flask.current_app.view_functions.get(request.endpoint or "")
    if getattr(view, _TAKES_STREAM, False):
        return
    if request.mimetype == FORM_MEDIA_TYPE and getattr(view, _TAKES_FORM, False):
        return
    json_body = (request.mimetype or "").endswith("json")
    if request.content_length and not json_body:  # refused before it is read
        raise HttpError(415, "unsupported_media_type", "send application/json")
    # A body of unknown length (chunked, or a server that tells none) is read up to the
    # limit and no further: get_data stops quietly at it, so one that filled it is asked
    # for one byte more, which refuses it (413) instead of parsing a body cut short.
    raw = request.get_data(cache=True)
    stream = request.stream
    if isinstance(stream, LimitedStream) and stream.is_exhausted and not request.content_length:
        stream.read(1)
    if not raw:
        return
    if not json_body:
        raise HttpError(415, "unsupported_media_type", "send application/json")
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, "malformed_json", "the body is not JSON") from error
    except RecursionError as error:
        raise HttpError(400, "malformed_json", "the body is nested too deep") from error
    except ValueError as error:
        raise HttpError(400, "malformed_json", "a number in the body is too long") from error


def _answer(error: Exception) -> flask.Response:
    if isinstance(error, HttpError):
        return error_response(error)
    if isinstance(error, PermanentError):
        return error_response(HttpError.bad_request(error))
    if isinstance(error, TransientError):
        return error_response(HttpError(503, "unavailable", "try again shortly"))
    if isinstance(error, RequestEntityTooLarge):
        return error_response(HttpError(413, "body_too_large", f"at most {MAX_BODY_BYTES} bytes"))
    if isinstance(error, MethodNotAllowed):
        return error_response(HttpError(405, "method_not_allowed", flask.request.method[:16]))
    return error_response(HttpError(404, "not_found", "no such resource"))


def http_app(title: str, description: str = "", *, max_body_bytes: int = MAX_BODY_BYTES) -> OpenAPI:
    app = OpenAPI(
        title,
        info=Info(title=title, version="1", description=description),
        # A string, as the generated document keys statuses: the framework then keeps the
        # refusal an operation declares instead of adding its own list-of-errors schema.
        validation_error_status="400",
        validation_error_model=ErrorAnswer,
        validation_error_callback=_invalid,
        doc_ui=False,
        # No /static/<path> route: a door serves its routes only, never files of its cwd.
        static_folder=None,
    )
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.before_request(_check_json_body)
    errors: Iterable[type[Exception]] = (
        HttpError, PermanentError, TransientError, RequestEntityTooLarge, MethodNotAllowed,
        NotFound,
    )  # fmt: skip
    for kind in errors:
        app.register_error_handler(kind, _answer)
    return app


def serve(app: OpenAPI, request: flask.Request) -> flask.Response:
    """Dispatch a functions-framework request through the app (the path is the part after
    the function's own URL, as the functions-framework hands it over)."""
    # The function's own request object, not a second one on its environ: the body is read
    # once, and what functions-framework reads after the function (it drains what a function
    # left unread) is what this read, not a stream another request object already emptied.
    with RequestContext(app, request.environ, request=request):
        return app.full_dispatch_request()


def openapi_document(app: OpenAPI, **extra: Any) -> dict[str, Any]:
    """The generated OpenAPI 3.1 document, with the framework's own validation answer
    (a list of pydantic errors) replaced by the one error shape we answer."""
    document: dict[str, Any] = json.loads(json.dumps(app.api_doc))
    reference = {"$ref": "#/components/schemas/ErrorAnswer"}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            answer = operation.get("responses", {}).get("400")
            schema = (answer or {}).get("content", {}).get("application/json", {}).get("schema")
            if isinstance(schema, dict) and schema.get("type") == "array":
                answer["content"]["application/json"]["schema"] = reference
    document.update(extra)
    return document
