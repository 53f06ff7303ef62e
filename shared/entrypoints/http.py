"""The error every HTTP function answers, in the same machine-readable shape:
`{"error": {"reason": "<code>", "detail": "...", "field": "..."}}`, and JSON answers.

Routing, bodies and parameters are the framework's (http_app.py): each door is a
flask-openapi3 app whose models are its contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import flask

from shared.domain.errors import PermanentError

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
