"""HTTP plumbing shared by the HTTP functions: JSON bodies, errors, routing.

Every error answers the same machine-readable shape:
`{"error": {"reason": "<code>", "detail": "...", "field": "..."}}`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import IO, Any

import flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map

from shared.domain.errors import PermanentError, TransientError
from shared.ports.documents import is_document_id

MAX_BODY_BYTES = 64 * 1024
# Refusals that are not "your request is malformed" (400).
_STATUS_OF_REASON = {"idempotency_key_reused": 422}


class HttpError(Exception):
    def __init__(self, status: int, reason: str, detail: str = "", field: str | None = None):
        super().__init__(reason)
        self.status, self.reason, self.detail, self.field = status, reason, detail, field

    @classmethod
    def bad_request(cls, error: PermanentError) -> HttpError:
        return cls(
            _STATUS_OF_REASON.get(error.reason, 400), error.reason, error.detail, error.field
        )


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        json.dumps(payload, separators=(",", ":")),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def error_response(error: HttpError) -> flask.Response:
    body: dict[str, Any] = {"reason": error.reason, "detail": error.detail}
    if error.field:
        body["field"] = error.field
    response = json_response({"error": body}, error.status)
    if error.status == 413:
        # The rest of the body is left unread: functions-framework reads what a function
        # left (to spare the client a reset) unless the response is streamed, and reading
        # 300 MB to refuse them holds them in memory. Stream the refusal, close the connection.
        response.response = iter([response.get_data()])
        response.headers["Connection"] = "close"
    return response


def read_json_body(request: flask.Request, max_bytes: int = MAX_BODY_BYTES) -> Any:
    if request.content_length is not None and request.content_length > max_bytes:
        raise HttpError(413, "body_too_large", f"at most {max_bytes} bytes")
    if not (request.mimetype or "").endswith("json"):
        raise HttpError(415, "unsupported_media_type", "send application/json")
    # Read at most one byte past the limit from the stream: a chunked body declares no
    # length, and reading it whole first (get_data) would hold all of it in memory.
    raw = _read_at_most(request.stream, max_bytes + 1)
    if len(raw) > max_bytes:
        raise HttpError(413, "body_too_large", f"at most {max_bytes} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, "malformed_json", "the body is not JSON") from error
    except RecursionError as error:  # JSON nested thousands deep
        raise HttpError(400, "malformed_json", "the body is nested too deep") from error
    except ValueError as error:  # an integer of thousands of digits
        raise HttpError(400, "malformed_json", "a number in the body is too long") from error


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def match_route(routes: Map, request: flask.Request) -> tuple[str, dict[str, Any]]:
    """Resolve the path inside this function (the part after /<target>)."""
    adapter = routes.bind("function", path_info=request.path or "/", url_scheme="http")
    try:
        endpoint, args = adapter.match(method=request.method)
    except NotFound as error:
        raise HttpError(404, "not_found", "no such resource") from error
    except MethodNotAllowed as error:
        raise HttpError(405, "method_not_allowed", request.method[:16]) from error
    for name, value in args.items():
        # Path ids become document ids: "..", "%2e%2e" (decoded), "__x__" are no id of ours.
        if isinstance(value, str) and not is_document_id(value):
            raise HttpError(404, "not_found", f"no such resource ({name} is not a valid id)")
    return str(endpoint), dict(args)


def answers_errors(
    function: Callable[[flask.Request], flask.Response],
) -> Callable[[flask.Request], flask.Response]:
    """Map the error taxonomy to HTTP for every HTTP function, the same way: a request that
    can never succeed is a 4xx with its reason, a dependency that is down a 503."""

    @functools.wraps(function)  # keeps the name functions-framework registers the target by
    def answering(request: flask.Request) -> flask.Response:
        try:
            return function(request)
        except HttpError as error:
            return error_response(error)
        except PermanentError as error:
            return error_response(HttpError.bad_request(error))
        except TransientError:
            return error_response(HttpError(503, "unavailable", "try again shortly"))

    return answering
