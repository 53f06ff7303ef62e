"""DICOMweb over a client's delivered data service (docs/dicomweb.md): QIDO-RS searches and
WADO-RS retrieval under /v1/data-services/<id>/dicomweb, for a DICOMweb client or viewer
that sends the buyer's bearer token.

The data_services query door answers them (it owns the manifest and reads the anonymized
objects); the api sends the caller's client code as the scope, passes the door's bytes and
Content-Type on as they arrive (never whole in memory), and checks the answer is the
caller's (the door names the service's client in a header the api does not pass on). A
service of another client is answered 404 exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

import flask
from pydantic import BaseModel, Field

from functions.api.context_doors import DATA_SERVICES_QUERIES, refusal, segment
from functions.api.guard import current
from functions.api.parameters import PathId
from functions.api.routing import CLIENT, Routes
from functions.data_services.messages import QidoKeys
from shared.entrypoints.http import HttpError
from shared.ports.doors import DoorAnswer, DoorUnavailable

routes = Routes("dicomweb", "QIDO-RS and WADO-RS over your delivered data services")

BASE = "/v1/data-services/<id:data_service_id>/dicomweb"
OWNER_HEADER = "X-Data-Service-Client"  # set by the door: the client whose service answered
PASSED_HEADERS = ("Warning",)  # besides Content-Type: a search with more results says so


class ServicePath(BaseModel):
    data_service_id: PathId


class StudyPath(ServicePath):
    study_id: PathId = Field(description="a StudyInstanceUID")


class SeriesPath(StudyPath):
    series_id: PathId = Field(description="a SeriesInstanceUID")


class InstancePath(SeriesPath):
    instance_id: PathId = Field(description="a SOPInstanceUID")


class FramesPath(InstancePath):
    frames: Annotated[str, Field(max_length=7_000, pattern=r"^[0-9]{1,6}(,[0-9]{1,6})*$")] = Field(
        description="frame numbers from 1, comma-separated"
    )


class QidoQuery(QidoKeys):
    """The QIDO-RS keys matched on (PS3.18 10.6.1.2). Any other key is refused (400
    unknown_parameter), as every route of the api refuses one: a key silently ignored would
    answer another search than the one asked."""


class NoQuery(BaseModel):
    """A retrieval takes no parameter."""


def _media(media: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


_BINARY = {"type": "string", "format": "binary"}
SEARCH = _media(
    "application/dicom+json", "the matches in the DICOM JSON model (PS3.18 F.2)",
    {"type": "array", "items": {"type": "object"}},
)  # fmt: skip
METADATA = _media(
    "application/dicom+json", "the instances' attributes, without bulk data (no pixel data)",
    {"type": "array", "items": {"type": "object"}},
)  # fmt: skip
INSTANCES = _media(
    'multipart/related; type="application/dicom"',
    "the anonymized instances as stored, one part each", _BINARY,
)  # fmt: skip
FRAMES = _media(
    'multipart/related; type="application/octet-stream"',
    "the frames, uncompressed (decoded from a compressed transfer syntax), one part each",
    _BINARY,
)  # fmt: skip


def _no_data_service() -> HttpError:
    return HttpError(404, "data_service_not_found", "no such data service")


def dicomweb_answer(
    path: ServicePath, suffix: str, params: dict[str, str] | None = None
) -> flask.Response:
    """The door's answer to the caller's DICOMweb request, passed on; `params` the door's
    parameters (by default the request's own)."""
    call = current()
    who = call.principal
    call.resource.append(f"client/{who.scope}/data-services/{path.data_service_id}/dicomweb")
    if params is None:
        # Every key the route declares (the guard refused the rest); a repeated key is a list.
        args = flask.request.args
        params = {key: ",".join(args.getlist(key)) for key in args}
    params = {**params, "client_code": who.scope}
    door_path = f"/data-services/{segment(path.data_service_id)}/dicomweb{suffix}"
    answer = call.wiring.platform.doors.call(DATA_SERVICES_QUERIES, "GET", door_path, params=params)
    if answer.status == 404 and answer.error.get("reason") == "data_service_not_found":
        raise _no_data_service()
    if not answer.ok:
        raise refusal(answer)
    return _passed_on(answer, who.scope)


def _passed_on(answer: DoorAnswer, scope: str) -> flask.Response:
    if answer.content is None or answer.status != 200:
        raise DoorUnavailable(f"{DATA_SERVICES_QUERIES} answered no DICOMweb content")
    if answer.headers.get(OWNER_HEADER) != scope:
        # Never the case with the door as written; if it were, nothing of it is sent on.
        close = getattr(answer.content, "close", None)
        if close is not None:
            close()
        raise _no_data_service()
    headers = {name: answer.headers[name] for name in PASSED_HEADERS if name in answer.headers}
    return flask.Response(
        answer.content, status=200, headers=headers,
        content_type=answer.headers.get("Content-Type", "application/octet-stream"),
    )  # fmt: skip


def _suffix(path: BaseModel, template: str) -> str:
    """The door's path after /dicomweb, the UIDs of `path` put in as path segments."""
    values = {name: segment(str(value)) for name, value in path.model_dump().items()}
    return template.format(**values)


def _declare(  # noqa: PLR0917 (one row of _ROUTES)
    rule: str,
    name: str,
    answer: dict[str, Any],
    path_model: type[BaseModel],
    query_model: type[BaseModel],
    summary: str,
    refused: tuple[int, ...] = (409, 410),
) -> None:
    template = rule.replace("<id:", "{").replace("<", "{").replace(">", "}")

    def view(path: Any, query: Any) -> flask.Response:
        return dicomweb_answer(path, _suffix(path, template))

    view.__name__ = view.__qualname__ = name
    view.__doc__ = summary
    view.__annotations__ = {"path": path_model, "query": query_model, "return": flask.Response}
    routes.get(BASE + rule, answer, roles=CLIENT, summary=summary, refused=refused)(view)


_ROUTES: list[tuple[str, str, dict[str, Any], type[BaseModel], type[BaseModel], str]] = [
    ("/studies", "dicomweb_search_studies", SEARCH, ServicePath, QidoQuery,
     "QIDO-RS: search the studies"),
    ("/series", "dicomweb_search_series", SEARCH, ServicePath, QidoQuery,
     "QIDO-RS: search every series"),
    ("/instances", "dicomweb_search_instances", SEARCH, ServicePath, QidoQuery,
     "QIDO-RS: search every instance"),
    ("/studies/<id:study_id>/series", "dicomweb_search_study_series", SEARCH, StudyPath,
     QidoQuery, "QIDO-RS: search a study's series"),
    ("/studies/<id:study_id>/instances", "dicomweb_search_study_instances", SEARCH, StudyPath,
     QidoQuery, "QIDO-RS: search a study's instances"),
    ("/studies/<id:study_id>/series/<id:series_id>/instances", "dicomweb_search_series_instances",
     SEARCH, SeriesPath, QidoQuery, "QIDO-RS: search a series' instances"),
    ("/studies/<id:study_id>", "dicomweb_retrieve_study", INSTANCES, StudyPath, NoQuery,
     "WADO-RS: a study's instances"),
    ("/studies/<id:study_id>/series/<id:series_id>", "dicomweb_retrieve_series", INSTANCES,
     SeriesPath, NoQuery, "WADO-RS: a series' instances"),
    ("/studies/<id:study_id>/series/<id:series_id>/instances/<id:instance_id>",
     "dicomweb_retrieve_instance", INSTANCES, InstancePath, NoQuery, "WADO-RS: an instance"),
    ("/studies/<id:study_id>/metadata", "dicomweb_study_metadata", METADATA, StudyPath, NoQuery,
     "WADO-RS: a study's metadata"),
    ("/studies/<id:study_id>/series/<id:series_id>/metadata", "dicomweb_series_metadata", METADATA,
     SeriesPath, NoQuery, "WADO-RS: a series' metadata"),
    ("/studies/<id:study_id>/series/<id:series_id>/instances/<id:instance_id>/metadata",
     "dicomweb_instance_metadata", METADATA, InstancePath, NoQuery,
     "WADO-RS: an instance's metadata"),
]  # fmt: skip
for _rule, _name, _answer, _path, _query, _summary in _ROUTES:
    _declare(_rule, _name, _answer, _path, _query, _summary)


def _frames_suffix(path: FramesPath) -> str:
    # The door takes the frame numbers as a parameter: its path ids are document ids.
    return _suffix(path, "/studies/{study_id}/series/{series_id}/instances/{instance_id}/frames")


INSTANCE_RULE = "/studies/<id:study_id>/series/<id:series_id>/instances/<id:instance_id>"


@routes.get(
    BASE + INSTANCE_RULE + "/frames/<frames>",
    FRAMES, roles=CLIENT, summary="WADO-RS: an instance's frames", refused=(406, 409, 410),
)  # fmt: skip
def dicomweb_instance_frames(path: FramesPath, query: NoQuery) -> flask.Response:
    """WADO-RS: an instance's frames, uncompressed (406 when they cannot be decoded)."""
    return dicomweb_answer(path, _frames_suffix(path), {"frames": path.frames})
