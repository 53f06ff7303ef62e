"""`GET /dead-letters` on every context's queries door: the one way a context shows what it
gave up on (shared/service/dead_letters.py records it in the context's own database).

    queries = door_app("<context> queries")
    add_dead_letter_route(queries, lambda: _wiring().platform)

The answer is an operator's view, newest first, paged like every query: what died, where
and why, never the message itself (its bytes and attributes may carry personal data; the
redrive tooling reads those from the store). The public api merges the pages of every
context for GET /v1/dead-letters (functions/api/reads.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
from flask_openapi3.openapi import OpenAPI

from shared.domain.read_models import Page, ReadModel
from shared.entrypoints.door_app import PageParameters, answer, answers
from shared.platform import Platform
from shared.ports.documents import Document
from shared.service.pagination import newest_first

PATH = "/dead-letters"
VIEW_FIELDS = (
    "dead_letter_id", "context", "ce_id", "ce_type", "reason", "delivery_attempts",
    "recorded_at", "status", "redriven_at",
)  # fmt: skip


class DeadLetterView(ReadModel):
    """A message the context gave up on. What a record lacks (a message that could not
    even be read has no type) is null."""

    dead_letter_id: str | None
    context: str | None
    ce_id: str | None
    ce_type: str | None
    reason: str | None
    delivery_attempts: int | None
    recorded_at: str | None
    status: str | None
    redriven_at: str | None


def dead_letter_view(document: Document) -> dict[str, Any]:
    return {name: document.get(name) for name in VIEW_FIELDS}


def add_dead_letter_route(app: OpenAPI, platform: Callable[[], Platform]) -> None:
    """GET /dead-letters on a queries door, from `platform()`'s store (the context's own)."""

    @app.get(PATH, responses=answers(Page[DeadLetterView], 400, 503))
    def dead_letters(query: PageParameters) -> flask.Response:
        """The context's dead letters, newest first (`recorded_at`: one field, Firestore's
        automatic index)."""
        log = platform().dead_letters
        page = newest_first(
            log.store, log.collection, [], order_by="recorded_at", view=dead_letter_view,
            limit=query.limit, cursor=query.cursor,
        )  # fmt: skip
        return answer(Page[DeadLetterView], page)
