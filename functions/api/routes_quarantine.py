"""An operator's review of quarantine: every center's quarantined uploads, and the two
commands on one, release (ingested again from the copy quarantine kept) and discard (the
copy deleted, the rejection kept as discarded), at ingestion's doors. Both are commands of
the operator's in the audit log (send() records them), and both are idempotent: an
Idempotency-Key makes a retried request the same command, and a rejection reviewed already
is refused by ingestion with its reason (`already_reviewed`) at the command's status."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from functions.api import reads
from functions.api.answers import Page
from functions.api.context_doors import INGESTION_QUERIES, QUARANTINE_COMMANDS, segment
from functions.api.context_views import shown
from functions.api.guard import current
from functions.api.parameters import CommandHeaders, PageQuery, PathId
from functions.api.routing import OPERATOR, Routes, With
from functions.api.sending import send
from functions.ingestion.messages import RejectionView

routes = Routes("quarantine", "an operator's review of every center's quarantine")


class QuarantineQuery(PageQuery):
    center: str | None = Field(None, max_length=64, description="one center's only")


class RejectionPath(BaseModel):
    rejection_id: PathId


class ReviewLinks(BaseModel):
    command: str
    timeline: str
    quarantine: str


class ReviewAccepted(BaseModel):
    """202: ingestion accepted the review; follow `links.command` for what became of it."""

    command_id: str
    command_type: str
    rejection_id: str
    correlation_id: str
    status: Literal["accepted"] = "accepted"
    links: ReviewLinks


@routes.get(
    "/v1/review/quarantine", Page[RejectionView], roles=OPERATOR,
    summary="every center's quarantined uploads (or one's), newest first, with their review",
)  # fmt: skip
def list_quarantine(query: QuarantineQuery) -> Page[RejectionView]:
    call = current()
    call.resource.append("quarantine" if not query.center else f"center/{query.center}/quarantine")
    doors = call.wiring.platform.doors
    found = reads.quarantine_review(doors, query.center, query.limit, query.cursor)
    return shown(Page[RejectionView], found, INGESTION_QUERIES)


def _review(action: str, path: RejectionPath, headers: CommandHeaders) -> With:
    sent = send(
        f"/quarantine/{segment(path.rejection_id)}/{action}", {}, headers,
        to=QUARANTINE_COMMANDS, resource="quarantine/{subject}",
    )  # fmt: skip
    answer = ReviewAccepted(
        **sent.fields,
        rejection_id=sent.subject,
        links=ReviewLinks(
            command=sent.status_url,
            timeline=f"{sent.status_url}/timeline",
            quarantine="/v1/review/quarantine",
        ),
    )
    return With(answer, sent.headers)


@routes.post(
    "/v1/review/quarantine/<id:rejection_id>/release", 202, ReviewAccepted, roles=OPERATOR,
    refused=(404, 422),
    summary="ingest a quarantined upload again from the copy quarantine kept (e.g. once its "
    "center confirmed it); refused again, it is quarantined again with its new reason",
)  # fmt: skip
def release(path: RejectionPath, header: CommandHeaders) -> With:
    return _review("release", path, header)


@routes.post(
    "/v1/review/quarantine/<id:rejection_id>/discard", 202, ReviewAccepted, roles=OPERATOR,
    refused=(404, 422),
    summary="delete a quarantined upload's kept copy; the rejection stays, recorded as "
    "discarded",
)  # fmt: skip
def discard(path: RejectionPath, header: CommandHeaders) -> With:
    return _review("discard", path, header)
