"""Cloud Function entry points of the identity context: thin, one hop to the service.

- identity_commands_http: sessions (POST /sessions, /sessions/google, /sessions/refresh,
  /sessions/revoke) and users (POST /users, /users/<user_id>/disable, /enable, /password).
- identity_queries_http: POST /tokens/verify (an access token -> who it speaks for, now)
  and GET /users/<user_id> (a user's own profile).

Both are internal doors (only the api invokes them); doors.py holds their routes,
messages.py their bodies and answers.
"""

from __future__ import annotations

import flask
import functions_framework

from functions.identity import doors
from shared.entrypoints.http_app import serve


@functions_framework.http
def identity_commands_http(request: flask.Request) -> flask.Response:
    """Sessions and users: doors.commands."""
    return serve(doors.commands, request)


@functions_framework.http
def identity_queries_http(request: flask.Request) -> flask.Response:
    """An access token's principal, a user's profile: doors.queries."""
    return serve(doors.queries, request)


@functions_framework.http
def identity_contacts_http(request: flask.Request) -> flask.Response:
    """A center's contact, for notifications only: doors.contacts."""
    return serve(doors.contacts, request)
