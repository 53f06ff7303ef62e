"""A client's data service: where its data is and how to fetch it, and the files of a
delivery the client cannot read in a bucket (links), each with a URL signed at the request
for minutes, at the data services' query door."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from functions.api import reads
from functions.api.context_doors import DATA_SERVICES_QUERIES
from functions.api.context_views import DataService, shown
from functions.api.guard import current
from functions.api.parameters import PageQuery, PathId
from functions.api.routing import CLIENT, Routes
from functions.data_services.messages import FilesPage, WhereView

routes = Routes("data services", "where a data service's data is and its files")


class DataServicePath(BaseModel):
    # `service_id`, one word before `_id`, as the other routes' path ids.
    service_id: PathId


class DataServiceWithWhere(DataService):
    """A data service with its progress and `where`: the bucket or managed folder the
    buyer reads (a `gcloud storage cp -r` line), the files route, or the DICOMweb base URL;
    never a path of the platform's the buyer cannot read."""

    progress: dict[str, Any] | None = None
    where: WhereView | None = None


@routes.get(
    "/v1/data-services/<id:service_id>", DataServiceWithWhere, roles=CLIENT,
    summary="your data service, with where its data is and how to fetch it",
)  # fmt: skip
def get_data_service(path: DataServicePath) -> DataServiceWithWhere:
    call = current()
    call.resource.append(f"data-service/{path.service_id}")
    found = reads.data_service_of(call.wiring.platform.doors, call.principal, path.service_id)
    return shown(DataServiceWithWhere, found, DATA_SERVICES_QUERIES)


@routes.get(
    "/v1/data-services/<id:service_id>/files", FilesPage, roles=CLIENT,
    refused=(409, 410),
    summary="your delivered files, each with a URL signed now for minutes (manifest.jsonl "
    "and SHA256SUMS first); 409 not_delivered or files_not_offered, 410 service_ended",
)  # fmt: skip
def data_service_files(path: DataServicePath, query: PageQuery) -> FilesPage:
    call = current()
    call.resource.append(f"data-service/{path.service_id}/files")
    found = reads.data_service_files(
        call.wiring.platform.doors, call.principal, path.service_id, query.limit,
        query.cursor,
    )  # fmt: skip
    return shown(FilesPage, found, DATA_SERVICES_QUERIES)
