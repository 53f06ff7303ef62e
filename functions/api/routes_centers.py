"""A health center's: its catalogue entries, its quarantine, and signed upload URLs under
its own prefix."""

from __future__ import annotations

from functions.api import reads
from functions.api.answers import Page, UploadGrant
from functions.api.bodies import UploadBody
from functions.api.context_doors import INGESTION_QUERIES
from functions.api.context_views import Rejection, shown
from functions.api.guard import current
from functions.api.parameters import ImagePath, ImagesQuery, PageQuery
from functions.api.routing import CENTER, Routes
from functions.ingestion.messages import ImageView

routes = Routes("centers", "a center's catalogue entries, quarantine and uploads")


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
