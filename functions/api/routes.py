"""Every route of the public API: its path, who may call it, and which limit it counts in.

The OpenAPI document (openapi.py) describes exactly these routes; a unit test holds the two
together. `roles=None` is a public route (login, the document itself, the live page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from werkzeug.routing import Map, Rule

from functions.api.principals import Role

Limit = Literal["query", "command", "login", "public"]
_ALL = frozenset(Role)
_CLIENT, _CENTER = frozenset({Role.CLIENT}), frozenset({Role.CENTER})
_EXPERT, _OPERATOR = frozenset({Role.EXPERT}), frozenset({Role.OPERATOR})
_CLIENT_OR_OPERATOR = frozenset({Role.CLIENT, Role.OPERATOR})


@dataclass(frozen=True)
class Route:
    path: str  # werkzeug syntax: /v1/subscriptions/<subscription_id>
    method: str
    endpoint: str
    roles: frozenset[Role] | None
    limit: Limit


ROUTES = (
    Route("/v1/openapi.json", "GET", "openapi", None, "public"),
    Route("/v1/live", "GET", "live_page", None, "public"),
    Route("/v1/live.js", "GET", "live_script", None, "public"),
    Route("/v1/auth/login", "POST", "login", None, "login"),
    Route("/v1/auth/google", "POST", "google_login", None, "login"),
    Route("/v1/auth/refresh", "POST", "refresh", None, "login"),
    Route("/v1/auth/logout", "POST", "logout", None, "login"),
    Route("/v1/me", "GET", "me", _ALL, "query"),
    Route("/v1/me/password", "POST", "change_password", _ALL, "command"),
    Route("/v1/users", "POST", "create_user", _OPERATOR, "command"),
    Route("/v1/users/<user_id>/disable", "POST", "disable_user", _OPERATOR, "command"),
    Route("/v1/users/<user_id>/enable", "POST", "enable_user", _OPERATOR, "command"),
    Route("/v1/subscriptions", "POST", "create_subscription", _CLIENT, "command"),
    Route("/v1/subscriptions", "GET", "list_subscriptions", _CLIENT, "query"),
    Route("/v1/subscriptions/<subscription_id>", "GET", "get_subscription", _CLIENT, "query"),
    Route("/v1/subscriptions/<subscription_id>/plan", "POST", "change_plan", _CLIENT, "command"),
    Route("/v1/subscriptions/<subscription_id>/cancel", "POST", "cancel", _CLIENT, "command"),
    Route("/v1/subscriptions/<subscription_id>/payments", "POST", "pay", _CLIENT, "command"),
    Route("/v1/commands/<command_id>", "GET", "command", _ALL, "query"),
    Route("/v1/commands/<command_id>/timeline", "GET", "timeline", _ALL, "query"),
    Route("/v1/commands/<command_id>/stream", "GET", "stream", _ALL, "query"),
    Route("/v1/images", "GET", "list_images", _CENTER, "query"),
    Route("/v1/images/<image_id>", "GET", "get_image", _CENTER, "query"),
    Route("/v1/quarantine", "GET", "quarantine", _CENTER, "query"),
    Route("/v1/uploads", "POST", "create_upload", _CENTER, "command"),
    Route("/v1/data-services", "GET", "data_services", _CLIENT, "query"),
    Route("/v1/notifications", "GET", "notifications", _CLIENT, "query"),
    Route("/v1/assignments", "GET", "assignments", _EXPERT, "query"),
    Route("/v1/dead-letters", "GET", "dead_letters", _OPERATOR, "query"),
    Route("/v1/audit", "GET", "audit", _OPERATOR, "query"),
    Route("/v1/sagas", "GET", "list_sagas", _CLIENT_OR_OPERATOR, "query"),
    Route("/v1/sagas/<saga_id>", "GET", "get_saga", _CLIENT_OR_OPERATOR, "query"),
    Route("/v1/sagas/<saga_id>/retry", "POST", "retry_saga", _OPERATOR, "command"),
    # The original design's BFF route and nested Spanish payload: a v1 create-subscription.
    Route("/suscripciones/suscripcion-comando", "POST", "original_create", _CLIENT, "command"),
)
BY_ENDPOINT = {route.endpoint: route for route in ROUTES}
ROUTER = Map(
    [Rule(r.path, endpoint=r.endpoint, methods=[r.method]) for r in ROUTES],
    strict_slashes=False,
)
