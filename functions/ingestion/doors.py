"""The HTTP door of the ingestion context, a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- queries (`ingestion_queries_http`): the catalogue (one image, or a page by filters), a
  center's quarantined uploads, a center's uploads and studies (its own only: the center is
  a required filter, another's answered as missing), the context's dead letters. Clinical
  history is never answered, not even encrypted: only whether an image has one. Also
  every center's quarantine for an operator's review (`GET /quarantine`), and what became
  of a command (`GET /commands/<id>`).
- commands (`ingestion_commands_http`): an operator's review of quarantine: release (ingest
  again from the kept copy) or discard; 202 with where to read the command's status.
"""

from __future__ import annotations

from typing import Any

import flask
from pydantic import BaseModel, Field

from functions import bootstrap
from functions.ingestion import queries as read
from functions.ingestion import wiring
from functions.ingestion.messages import (
    NAMES,
    DiscardQuarantined,
    ImageView,
    RejectionView,
    ReleaseQuarantined,
    StudyView,
    UploadView,
)
from shared.domain.messages import Command
from shared.domain.read_models import Page
from shared.entrypoints.command_door import (
    COMMAND_REFUSALS,
    Accepted,
    CommandDoor,
    CommandHeaders,
    CommandLink,
    add_command_status_route,
)
from shared.entrypoints.dead_letter_door import add_dead_letter_route
from shared.entrypoints.door_app import (
    DocumentId,
    NoParameters,
    PageParameters,
    Parameters,
    answer,
    answers,
    door_app,
)
from shared.entrypoints.http import HttpError
from shared.service.command_log import request_digest

queries = door_app(
    "ingestion queries",
    "The catalogue of anonymized images, a center's quarantined uploads, the context's "
    "dead letters.",
)


def _wiring() -> wiring.IngestionWiring:
    return bootstrap.context(wiring.build)


class ImagePath(BaseModel):
    image_id: DocumentId


class CenterScope(Parameters):
    # Only that center's: another's is answered as if it did not exist.
    center: str | None = None


class CatalogueFilters(PageParameters):
    """Codes compare upper-cased, as stored; every filter left out matches everything."""

    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    center: str | None = None
    ingested_from: str | None = Field(None, description="ISO 8601 date or date-time, inclusive")
    ingested_to: str | None = Field(None, description="ISO 8601 date or date-time, exclusive")


class CenterRejections(PageParameters):
    center: str


@queries.get("/images/<image_id>", responses=answers(ImageView, 400, 404, 503))
def get_image(path: ImagePath, query: CenterScope) -> flask.Response:
    """One image of the catalogue."""
    w = _wiring()
    found = read.get_image(w.platform.store, w.collections.images, path.image_id)
    if found is None or query.center not in (None, found["data_source"]):
        raise HttpError(404, "image_not_found", "no such image")
    return answer(ImageView, found)


@queries.get("/images", responses=answers(Page[ImageView], 400, 503))
def list_images(query: CatalogueFilters) -> flask.Response:
    """The catalogue, newest first, by filters."""
    w = _wiring()
    filters = query.model_dump(exclude_none=True, exclude={"limit", "cursor"})
    page = read.list_images(
        w.platform.store, w.collections.images, filters, limit=query.limit, cursor=query.cursor
    )
    return answer(Page[ImageView], page)


@queries.get("/rejections", responses=answers(Page[RejectionView], 400, 503))
def list_rejections(query: CenterRejections) -> flask.Response:
    """A center's quarantined uploads, newest first."""
    w = _wiring()
    page = read.rejections_of_center(
        w.platform.store, w.collections.rejections, query.center, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[RejectionView], page)


class UploadPath(BaseModel):
    upload_id: DocumentId


class StudyPath(BaseModel):
    study_id: DocumentId


class OwnCenter(Parameters):
    # Required: a center's uploads and studies are read by that center only.
    center: str


class CenterUploads(PageParameters):
    center: str
    status: str | None = Field(
        None,
        description="received, deidentified, duplicate, quarantined, released, discarded, complete",
    )


@queries.get("/uploads/<upload_id>", responses=answers(UploadView, 400, 404, 503))
def get_upload(path: UploadPath, query: OwnCenter) -> flask.Response:
    """What became of one upload of the center (an object or a package)."""
    w = _wiring()
    c = w.collections
    found = read.upload_of(
        w.platform.store,
        c.uploads,
        c.entries,
        c.rejections,
        upload_id=path.upload_id,
        center=query.center,
    )
    if found is None:
        raise HttpError(404, "upload_not_found", "no such upload")
    return answer(UploadView, found)


@queries.get("/uploads", responses=answers(Page[UploadView], 400, 503))
def list_uploads(query: CenterUploads) -> flask.Response:
    """A center's uploads, newest first, of one status or all."""
    w = _wiring()
    page = read.uploads_of_center(
        w.platform.store, w.collections.uploads, query.center, query.status,
        limit=query.limit, cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[UploadView], page)


@queries.get("/studies/<study_id>", responses=answers(StudyView, 400, 404, 503))
def get_study(path: StudyPath, query: OwnCenter) -> flask.Response:
    """One study of the center: its own images in it, by series."""
    w = _wiring()
    found = read.study_of(w.platform.store, w.collections.images, path.study_id, query.center)
    if found is None:
        raise HttpError(404, "study_not_found", "no such study")
    return answer(StudyView, found)


class Quarantine(PageParameters):
    # Left out: every center's (an operator's review).
    center: str | None = None


@queries.get("/quarantine", responses=answers(Page[RejectionView], 400, 503))
def list_quarantine(query: Quarantine) -> flask.Response:
    """Quarantined uploads of every center (or one), newest first, with their review."""
    w = _wiring()
    page = read.quarantine(
        w.platform.store, w.collections.rejections, query.center, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[RejectionView], page)


def _command_status(command_id: str) -> dict[str, Any] | None:
    return _wiring().commands.status(command_id)  # the wiring when asked, never at import


add_command_status_route(queries, _command_status)
add_dead_letter_route(queries, lambda: _wiring().platform)


# -- commands: an operator's review of quarantine -------------------------------------------
commands = door_app(
    "ingestion commands",
    "An operator's review of quarantine: release (ingest again from the kept copy) or "
    "discard; 202 with where to read each command's status, at the queries door.",
)


class RejectionPath(BaseModel):
    rejection_id: DocumentId


class ReviewLinks(CommandLink):
    rejection: str


class ReviewAccepted(Accepted):
    rejection_id: str
    links: ReviewLinks


def _review(endpoint: str, path: RejectionPath, command: type[Command]) -> flask.Response:
    w = _wiring()
    door = CommandDoor(NAMES, w.commands, w.platform)
    args = path.model_dump()
    envelope = door.envelope(flask.request, endpoint, args, lambda _: command(**args))
    # One that will never exist is refused here (404), not retried until it dies; one
    # reviewed already is refused by its handler, with its reason, at the command's status.
    if w.platform.store.get(w.collections.rejections, path.rejection_id) is None:
        raise HttpError(404, "rejection_not_found", "no such quarantined upload")
    door.accept_and_publish(envelope, request_digest(endpoint, args))
    return door.accepted(
        envelope, ReviewAccepted, "rejection_id",
        rejection=f"{door.queries_path}/quarantine",
    )  # fmt: skip


_ACCEPTED = answers(ReviewAccepted, *COMMAND_REFUSALS, status=202)


@commands.post("/quarantine/<rejection_id>/release", responses=_ACCEPTED)
def release(path: RejectionPath, query: NoParameters, header: CommandHeaders) -> flask.Response:
    """Ingest a quarantined upload again from the copy quarantine kept (ReleaseQuarantined)."""
    return _review("release", path, ReleaseQuarantined)


@commands.post("/quarantine/<rejection_id>/discard", responses=_ACCEPTED)
def discard(path: RejectionPath, query: NoParameters, header: CommandHeaders) -> flask.Response:
    """Delete a quarantined upload's kept copy; the rejection stays, recorded as discarded
    (DiscardQuarantined)."""
    return _review("discard", path, DiscardQuarantined)
