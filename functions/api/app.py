"""The api's one flask-openapi3 app: every route (routes_*.py), the guard (guard.py) and the
OpenAPI 3.1 document generated from the routes' models (served at /v1/openapi.json)."""

from __future__ import annotations

from flask_openapi3.openapi import OpenAPI

from functions.api import (
    guard,
    routes_catalogue,
    routes_centers,
    routes_clients,
    routes_commands,
    routes_confirmations,
    routes_data_services,
    routes_dicomweb,
    routes_experts,
    routes_operators,
    routes_public,
    routes_quarantine,
    routes_sagas,
    routes_sessions,
    routes_stow,
    routes_subscriptions,
)
from functions.api.routing import SECURITY_SCHEME, DocumentIdConverter
from shared.entrypoints.http_app import http_app

DESCRIPTION = (
    "The public door of SaludTech de los Alpes. Every refusal answers "
    '`{"error": {"reason", "detail", "field"}}`; a protected operation needs a bearer '
    "token of one of its `x-roles`."
)
AREAS = (
    routes_public, routes_sessions, routes_subscriptions, routes_commands, routes_centers,
    routes_clients, routes_catalogue, routes_confirmations, routes_sagas, routes_operators,
    routes_dicomweb, routes_experts, routes_data_services, routes_stow, routes_quarantine,
)  # fmt: skip


def build() -> OpenAPI:
    app = http_app("SaludTech API", DESCRIPTION)
    # `<id:name>` path ids; a trailing slash is the same route, and `//` is no route (never
    # a redirect the document does not declare).
    app.url_map.converters["id"] = DocumentIdConverter
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    app.security_schemes = {
        SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    guard.install(app)
    for area in AREAS:
        app.register_api(area.routes.blueprint)
    return app


app = build()
