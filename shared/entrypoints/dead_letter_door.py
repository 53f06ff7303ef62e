"""`GET /dead-letters` on every context's queries door: the one way a context shows what it
gave up on (shared/service/dead_letters.py records it in the context's own database).

    @functions_framework.http
    @answers_errors
    @serves_dead_letters(lambda: _wiring().platform)
    def <context>_queries_http(request): ...

The answer is an operator's view, newest first, paged like every query: what died, where
and why, never the message itself (its bytes and attributes may carry personal data; the
redrive tooling reads those from the store). The public api merges the pages of every
context for GET /v1/dead-letters (functions/api/reads.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flask

from shared.entrypoints.http import json_response
from shared.platform import Platform
from shared.ports.documents import Document
from shared.service.pagination import newest_first, page_size, refuse_unknown_parameters

PATH = "/dead-letters"
VIEW_FIELDS = (
    "dead_letter_id", "context", "ce_id", "ce_type", "reason", "delivery_attempts",
    "recorded_at", "status", "redriven_at",
)  # fmt: skip
Door = Callable[[flask.Request], flask.Response]


def dead_letter_view(document: Document) -> dict[str, Any]:
    return {name: document.get(name) for name in VIEW_FIELDS}


def dead_letters_page(request: flask.Request, platform: Platform) -> flask.Response:
    """One page of the context's dead letters, newest first (`recorded_at`: one field,
    Firestore's automatic index)."""
    refuse_unknown_parameters(request.args, {"limit", "cursor"})
    log = platform.dead_letters
    page = newest_first(
        log.store, log.collection, [], order_by="recorded_at", view=dead_letter_view,
        limit=page_size(request.args.get("limit")), cursor=request.args.get("cursor"),
    )  # fmt: skip
    return json_response(page)


def serves_dead_letters(platform: Callable[[], Platform]) -> Callable[[Door], Door]:
    """A queries door that also answers `GET /dead-letters` from `platform()`'s store (the
    context's own), before its own routes; under answers_errors, so a bad cursor is a 400."""

    def decorate(door: Door) -> Door:
        @functools.wraps(door)  # keeps the name functions-framework registers the target by
        def serving(request: flask.Request) -> flask.Response:
            if request.method == "GET" and request.path.rstrip("/") == PATH:
                return dead_letters_page(request, platform())
            return door(request)

        return serving

    return decorate
