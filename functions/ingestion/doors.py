"""The HTTP door of the ingestion context, a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- queries (`ingestion_queries_http`): the catalogue (one image, or a page by filters), a
  center's quarantined uploads, the context's dead letters. Clinical history is never
  answered, not even encrypted: only whether an image has one.
"""

from __future__ import annotations

import flask
from pydantic import BaseModel, Field

from functions import bootstrap
from functions.ingestion import queries as read
from functions.ingestion import wiring
from functions.ingestion.messages import ImageView, RejectionView
from shared.domain.read_models import Page
from shared.entrypoints.dead_letter_door import add_dead_letter_route
from shared.entrypoints.door_app import (
    DocumentId,
    PageParameters,
    Parameters,
    answer,
    answers,
    door_app,
)
from shared.entrypoints.http import HttpError

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


add_dead_letter_route(queries, lambda: _wiring().platform)
