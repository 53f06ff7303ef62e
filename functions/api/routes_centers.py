"""A health center's: its catalogue entries, its quarantine, what became of each of its
uploads and its studies, and signed upload URLs under its own prefix. Everything is the
caller's own: another center's upload or study is answered exactly like a missing one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from functions.api import reads
from functions.api.answers import Page, UploadGrant
from functions.api.bodies import UploadBody
from functions.api.context_doors import INGESTION_QUERIES
from functions.api.context_views import Rejection, shown
from functions.api.guard import current
from functions.api.parameters import ImagePath, ImagesQuery, PageQuery, PathId
from functions.api.routing import CENTER, Routes
from functions.ingestion.messages import ImageView, StudyView, UploadView

routes = Routes("centers", "a center's catalogue entries, quarantine, uploads and studies")

# ingestion's queries.UPLOAD_STATUSES, as the document declares them.
UploadStatusName = Literal[
    "received", "deidentified", "duplicate", "quarantined", "released", "discarded", "complete"
]


class UploadPath(BaseModel):
    upload_id: PathId


class StudyPath(BaseModel):
    study_id: PathId


class UploadsQuery(PageQuery):
    status: UploadStatusName | None = Field(None, description="only the uploads in that status")


@routes.get(
    "/v1/images", Page[ImageView], roles=CENTER, summary="your catalogue entries, newest first"
)
def list_images(query: ImagesQuery) -> Page[ImageView]:
    call = current()
    call.resource.append(f"center/{call.principal.scope}/images")
    filters = query.model_dump(include=set(reads.CATALOGUE_FILTERS), exclude_none=True)
    doors = call.wiring.platform.doors
    found = reads.images_of(doors, call.principal, filters, query.limit, query.cursor)
    return shown(Page[ImageView], found, INGESTION_QUERIES)


@routes.get(
    "/v1/images/<id:image_id>", ImageView, roles=CENTER, summary="one of your catalogue entries"
)
def get_image(path: ImagePath) -> ImageView:
    call = current()
    call.resource.append(f"image/{path.image_id}")
    found = reads.image_of(call.wiring.platform.doors, call.principal, path.image_id)
    return shown(ImageView, found, INGESTION_QUERIES)


@routes.get("/v1/quarantine", Page[Rejection], roles=CENTER, summary="your quarantined uploads")
def quarantine(query: PageQuery) -> Page[Rejection]:
    call = current()
    call.resource.append(f"center/{call.principal.scope}/quarantine")
    doors = call.wiring.platform.doors
    found = reads.quarantine_of(doors, call.principal, query.limit, query.cursor)
    return shown(Page[Rejection], found, INGESTION_QUERIES)


@routes.post(
    "/v1/uploads", 201, UploadGrant, roles=CENTER,
    summary="a signed PUT URL for a .dcm or a .zip under your own prefix",
)  # fmt: skip
def create_upload(body: UploadBody) -> UploadGrant:
    call = current()
    w = call.wiring
    grant = w.uploads.grant(call.principal, body.file_name, w.platform.clock())
    call.resource.append(f"upload/{grant.object}")
    return grant


@routes.get(
    "/v1/uploads", Page[UploadView], roles=CENTER,
    summary="your uploads (objects and zip packages), newest first, of one status or all",
)  # fmt: skip
def list_uploads(query: UploadsQuery) -> Page[UploadView]:
    call = current()
    call.resource.append(f"center/{call.principal.scope}/uploads")
    doors = call.wiring.platform.doors
    found = reads.uploads_of(doors, call.principal, query.status, query.limit, query.cursor)
    return shown(Page[UploadView], found, INGESTION_QUERIES)


@routes.get(
    "/v1/uploads/<id:upload_id>", UploadView, roles=CENTER,
    summary="what became of one of your uploads: de-identified, duplicate, quarantined with "
    "its reason, released; a package's entries by outcome",
)  # fmt: skip
def get_upload(path: UploadPath) -> UploadView:
    call = current()
    call.resource.append(f"upload/{path.upload_id}")
    found = reads.upload_of(call.wiring.platform.doors, call.principal, path.upload_id)
    return shown(UploadView, found, INGESTION_QUERIES)


@routes.get(
    "/v1/studies/<id:study_id>", StudyView, roles=CENTER,
    summary="one of your studies: your images in it, by series, and the uploads they came from",
)  # fmt: skip
def get_study(path: StudyPath) -> StudyView:
    call = current()
    call.resource.append(f"study/{path.study_id}")
    found = reads.study_of(call.wiring.platform.doors, call.principal, path.study_id)
    return shown(StudyView, found, INGESTION_QUERIES)
