"""DICOMweb (QIDO-RS, WADO-RS) over a delivered data service, at the queries door
(`data_services_queries_http`): docs/dicomweb.md. The api proxies these routes to the
service's client; this door serves them because it owns the manifest and reads the
anonymized objects (its context may read that bucket).

- The service must be the caller's (`client_code`, which the api sets) and DELIVERED: 404
  for another client's as for none, 409 `not_delivered` before, 410 `service_ended` after.
- The index: one document per manifest chunk (`<manifest_id>-<chunk>`, the chunk's
  instances with the attributes QIDO-RS matches on), built the first time a request needs
  it from the headers of the chunk's objects (read up to the pixel data, in ranges), then
  only read: a search reads `chunks` small documents in one batch and opens no object.
- Answers are streamed: an instance is sent from the bucket as it is read, part by part.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import flask
import pydicom
from flask_openapi3.openapi import OpenAPI
from pydantic import BaseModel, Field
from pydicom.dataset import Dataset

from functions.data_services import dicomweb
from functions.data_services.dicomweb import INSTANCE, SERIES, STUDY, Instance, Search
from functions.data_services.messages import QidoKeys, Status
from functions.data_services.unit_of_work import Collections, chunk_doc_id
from shared.entrypoints.door_app import DocumentId, Parameters, answers
from shared.entrypoints.http import HttpError
from shared.ports.blobs import BlobNotFound, BlobStore
from shared.ports.documents import Document, DocumentStore
from shared.ports.doors import DoorUnavailable

if TYPE_CHECKING:
    from functions.data_services.wiring import DataServicesWiring

INDEX = "data_services_dicomweb_index"  # the collection, under the settings' prefix
INDEX_VERSION = 1  # an index built by other code is built again
READ_PIECE = 1024 * 1024  # bytes per piece of an instance sent on
DICOM_JSON = "application/dicom+json"
OWNER_HEADER = "X-Data-Service-Client"  # the api checks the answer is its caller's
_ENDED = frozenset({Status.FINISHED, Status.CANCELLED, Status.FAILED})


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


@dataclass(frozen=True)
class DicomwebReads:
    store: DocumentStore
    blobs: BlobStore
    collections: Collections
    index_collection: str

    def service(self, data_service_id: str, client_code: str) -> Document:
        """The caller's delivered service; refused as the module says otherwise."""
        found = self.store.get(self.collections.services, data_service_id)
        if found is None or found.get("client_code") != client_code:
            raise HttpError(404, "data_service_not_found", "no such data service")
        status = Status(found["status"])
        if status in _ENDED:
            raise HttpError(410, "service_ended", f"the data service is {status.value}")
        if status is not Status.DELIVERED or not found.get("manifest"):
            raise HttpError(409, "not_delivered", "the data service is not delivered yet")
        return found

    def instances(self, service: Document) -> list[Instance]:
        """The index of the service's manifest, its missing chunks built now."""
        manifest = service["manifest"]
        manifest_id, chunks = str(manifest["manifest_id"]), int(manifest["chunks"])
        keys = [(self.index_collection, chunk_doc_id(manifest_id, c)) for c in range(chunks)]
        stored = self.store.run_in_transaction(lambda tx: tx.get_many(keys))
        found: list[Instance] = []
        for chunk, document in enumerate(stored):
            index = document
            if index is None or index.get("version") != INDEX_VERSION:
                index = self._build(manifest_id, chunk)
            found.extend(Instance.of(entry) for entry in index["entries"])
        return found

    def _build(self, manifest_id: str, chunk: int) -> Document:
        """One chunk's index from its objects' headers. Two requests that build it at once
        write the same document: the last write wins, and it is the same."""
        doc_id = chunk_doc_id(manifest_id, chunk)
        manifest_chunk = self.store.get(self.collections.manifest_chunks, doc_id) or {}
        entries = []
        for entry in manifest_chunk.get("entries", []):
            header = self._read(entry["uri"], int(entry["size"]), whole=False)
            entries.append(dicomweb.index_entry(header, entry["uri"], int(entry["size"])))
        document: Document = {"manifest_id": manifest_id, "chunk": chunk,
                              "version": INDEX_VERSION, "entries": entries}  # fmt: skip
        self.store.run_in_transaction(lambda tx: tx.put(self.index_collection, doc_id, document))
        return document

    def _read(self, uri: str, size: int, *, whole: bool) -> Dataset:
        bucket, name = _split_uri(uri)
        try:
            with self.blobs.open_read(bucket, name, size=size) as stream:
                return pydicom.dcmread(stream, stop_before_pixels=not whole)
        except BlobNotFound:
            # The manifest names an object that is gone: the data is not there to serve.
            raise DoorUnavailable(f"an object of the manifest is missing from {bucket}") from None

    def header(self, instance: Instance) -> Dataset:
        return self._read(instance.uri, instance.size, whole=False)

    def dataset(self, instance: Instance) -> Dataset:
        return self._read(instance.uri, instance.size, whole=True)

    def pieces(self, instance: Instance) -> Iterator[bytes]:
        """The stored object as it is (byte-identical), piece by piece."""
        bucket, name = _split_uri(instance.uri)
        with self.blobs.open_read(bucket, name, size=instance.size) as stream:
            while piece := stream.read(READ_PIECE):
                yield piece


def reads_of(w: DataServicesWiring) -> DicomwebReads:
    return DicomwebReads(
        store=w.platform.store,
        blobs=w.platform.blobs,
        collections=w.collections,
        index_collection=w.platform.settings.collection(INDEX),
    )


# -- the door's routes -------------------------------------------------------------------------
class ServicePath(BaseModel):
    data_service_id: DocumentId


class StudyPath(ServicePath):
    study: DocumentId


class SeriesPath(StudyPath):
    series: DocumentId


class InstancePath(SeriesPath):
    instance: DocumentId


class Scope(Parameters):
    """The client the api answers: a service of another client is answered 404."""

    client_code: str


class QidoParameters(Scope, QidoKeys):
    """The QIDO-RS keys this door matches on (dicomweb.MATCHING_KEYS); a key repeated is a
    list of values. The api refuses any other key."""


class FramesParameters(Scope):
    frames: Annotated[str, Field(max_length=7_000, pattern=r"^[0-9]{1,6}(,[0-9]{1,6})*$")]


_JSON_ARRAY = {"type": "array", "items": {"type": "object"}}


def _media(media: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


_SEARCH = answers(
    _media(DICOM_JSON, "the matches in the DICOM JSON model", _JSON_ARRAY),
    400, 404, 409, 410, 503,
)  # fmt: skip
_METADATA = answers(
    _media(DICOM_JSON, "the instances' attributes without bulk data", _JSON_ARRAY),
    400, 404, 409, 410, 503,
)  # fmt: skip
_BINARY = {"type": "string", "format": "binary"}
_INSTANCES = answers(
    _media('multipart/related; type="application/dicom"', "the stored instances", _BINARY),
    400, 404, 409, 410, 503,
)  # fmt: skip
_FRAMES = answers(
    _media(
        'multipart/related; type="application/octet-stream"', "the frames, uncompressed", _BINARY
    ),
    400, 404, 406, 409, 410, 503,
)  # fmt: skip


def _params() -> dict[str, list[str]]:
    args = flask.request.args
    return {key: args.getlist(key) for key in args if key != "client_code"}


def _refused(error: dicomweb.DicomwebError) -> HttpError:
    return HttpError(error.status, error.reason, error.detail, error.field)


def _selected(
    instances: list[Instance], study: str | None, series: str | None, sop: str | None
) -> list[Instance]:
    """The instances a WADO-RS path names; 404 when it names none."""
    chosen = [
        i for i in instances
        if (study is None or i.study == study) and (series is None or i.series == series)
        and (sop is None or i.sop == sop)
    ]  # fmt: skip
    if not chosen:
        what = "instance" if sop else "series" if series else "study"
        raise HttpError(404, f"{what}_not_found", f"no such {what} in the data service")
    return chosen


def _dicom_json(items: list[dict[str, Any]]) -> flask.Response:
    return flask.Response(flask.json.dumps(items, separators=(",", ":")), mimetype=DICOM_JSON)


def _owned(response: flask.Response, client_code: str) -> flask.Response:
    response.headers[OWNER_HEADER] = client_code
    return response


def add_dicomweb_routes(app: OpenAPI, wiring: Callable[[], DataServicesWiring]) -> None:
    """The DICOMweb routes of the queries door, under /data-services/<id>/dicomweb."""
    base = "/data-services/<data_service_id>/dicomweb"

    def served(path: ServicePath, client_code: str) -> tuple[DicomwebReads, list[Instance]]:
        reads = reads_of(wiring())
        service = reads.service(path.data_service_id, client_code)
        return reads, reads.instances(service)

    def qido(level: str, path: ServicePath, query: QidoParameters) -> flask.Response:
        _, instances = served(path, query.client_code)
        try:
            wanted = Search.of(_params())
        except dicomweb.DicomwebError as error:
            raise _refused(error) from None
        found = dicomweb.search(
            level, instances, wanted,
            study=getattr(path, "study", None), series=getattr(path, "series", None),
        )  # fmt: skip
        response = _dicom_json(found.items)
        if found.more:  # PS3.18 8.3.4.4: the client pages on with offset
            response.headers["Warning"] = '299 saludtech "There are additional results"'
        return _owned(response, query.client_code)

    def metadata(path: ServicePath, query: Scope) -> flask.Response:
        reads, instances = served(path, query.client_code)
        chosen = _selected(instances, *_uids(path))
        body = [dicomweb.metadata_json(reads.header(i)) for i in chosen]
        return _owned(_dicom_json(body), query.client_code)

    def retrieve(path: ServicePath, query: Scope) -> flask.Response:
        reads, instances = served(path, query.client_code)
        chosen = _selected(instances, *_uids(path))
        boundary = secrets.token_hex(16)
        parts = (reads.pieces(i) for i in chosen)
        body = dicomweb.multipart(boundary, "application/dicom", parts)
        media = dicomweb.multipart_type("application/dicom", boundary)
        return _owned(flask.Response(body, content_type=media), query.client_code)

    def frames(path: InstancePath, query: FramesParameters) -> flask.Response:
        reads, instances = served(path, query.client_code)
        (instance,) = _selected(instances, *_uids(path))
        try:
            numbers = dicomweb.frame_numbers(query.frames)
            found = dicomweb.frames(reads.dataset(instance), numbers)
        except dicomweb.DicomwebError as error:
            raise _refused(error) from None
        boundary = secrets.token_hex(16)
        body = dicomweb.multipart(boundary, "application/octet-stream", ([f] for f in found))
        media = dicomweb.multipart_type("application/octet-stream", boundary)
        return _owned(flask.Response(body, content_type=media), query.client_code)

    def level_search(level: str) -> Callable[..., flask.Response]:
        return lambda path, query: qido(level, path, query)

    routes: list[tuple[str, str, type[BaseModel], type[BaseModel], Any, Any]] = [
        ("/studies", "dicomweb_search_studies", ServicePath, QidoParameters,
         level_search(STUDY), _SEARCH),
        ("/series", "dicomweb_search_series", ServicePath, QidoParameters,
         level_search(SERIES), _SEARCH),
        ("/instances", "dicomweb_search_instances", ServicePath, QidoParameters,
         level_search(INSTANCE), _SEARCH),
        ("/studies/<study>/series", "dicomweb_search_study_series", StudyPath, QidoParameters,
         level_search(SERIES), _SEARCH),
        ("/studies/<study>/instances", "dicomweb_search_study_instances", StudyPath,
         QidoParameters, level_search(INSTANCE), _SEARCH),
        ("/studies/<study>/series/<series>/instances", "dicomweb_search_series_instances",
         SeriesPath, QidoParameters, level_search(INSTANCE), _SEARCH),
        ("/studies/<study>", "dicomweb_retrieve_study", StudyPath, Scope, retrieve, _INSTANCES),
        ("/studies/<study>/series/<series>", "dicomweb_retrieve_series", SeriesPath, Scope,
         retrieve, _INSTANCES),
        ("/studies/<study>/series/<series>/instances/<instance>", "dicomweb_retrieve_instance",
         InstancePath, Scope, retrieve, _INSTANCES),
        ("/studies/<study>/metadata", "dicomweb_study_metadata", StudyPath, Scope, metadata,
         _METADATA),
        ("/studies/<study>/series/<series>/metadata", "dicomweb_series_metadata", SeriesPath,
         Scope, metadata, _METADATA),
        ("/studies/<study>/series/<series>/instances/<instance>/metadata",
         "dicomweb_instance_metadata", InstancePath, Scope, metadata, _METADATA),
        ("/studies/<study>/series/<series>/instances/<instance>/frames",
         "dicomweb_instance_frames", InstancePath, FramesParameters, frames, _FRAMES),
    ]  # fmt: skip
    for rule, name, path_model, query_model, serve, responses in routes:
        app.get(base + rule, operation_id=name, responses=responses)(
            _view(name, path_model, query_model, serve)
        )


def _uids(path: ServicePath) -> tuple[str | None, str | None, str | None]:
    return (
        getattr(path, "study", None), getattr(path, "series", None),
        getattr(path, "instance", None),
    )  # fmt: skip


def _view(
    name: str,
    path_model: type[BaseModel],
    query_model: type[BaseModel],
    serve: Callable[[Any, Any], flask.Response],
) -> Callable[..., flask.Response]:
    """A view the framework reads its path and query models from (its annotations)."""

    def view(path: Any, query: Any) -> flask.Response:
        return serve(path, query)

    view.__name__ = view.__qualname__ = name
    view.__doc__ = name.removeprefix("dicomweb_").replace("_", " ").capitalize() + " (DICOMweb)."
    view.__annotations__ = {"path": path_model, "query": query_model, "return": flask.Response}
    return view
