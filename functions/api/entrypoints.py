"""The `api` Cloud Function: the only public door, versioned under /v1.

Every request is dispatched through the api's flask-openapi3 app (app.py): the guard
(guard.py) checks the bearer token with identity, the rate limits and the caller's role,
the framework validates the request against the route's models, and the view calls the
contexts at their doors. Data reads and changes are written to the audit log with their
outcome.
"""

from __future__ import annotations

import flask
import functions_framework

from functions.api.app import app
from shared.entrypoints.http_app import serve


@functions_framework.http
def api_http(request: flask.Request) -> flask.Response:
    return serve(app, request)
