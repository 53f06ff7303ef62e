"""Cloud Function entry points of the ingestion context: thin, one hop to the pipeline.

- ingestion_on_upload: `google.cloud.storage.object.v1.finalized` on the ingest bucket.
- ingestion_ingest_package_entry: Pub/Sub-triggered, one entry of a zip package.
- ingestion_queries_http: the catalogue (GET /images/<id>, GET /images?...).
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.ingestion import names, queries
from functions.ingestion.domain import Upload
from functions.ingestion.messages import IngestPackageEntry
from shared.envelope import from_eventarc
from shared.errors import InvalidMessage, PermanentError, TransientError
from shared.http import HttpError, answers_errors, json_response, match_route
from shared.logging import bind_message_context, get_logger
from shared.pagination import page_size
from shared.pubsub_entrypoint import keep_unreadable

log = get_logger(__name__)
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"

_QUERY_ROUTES = Map(
    [
        Rule("/images", endpoint="list", methods=["GET"]),
        Rule("/images/<image_id>", endpoint="get", methods=["GET"]),
    ],
    strict_slashes=False,
)


@functions_framework.cloud_event
def ingestion_on_upload(cloud_event: Any) -> None:
    """Ack (return) when the upload is done or can never be; raise to be redelivered."""
    bind_message_context(function="ingestion_on_upload", message_type=cloud_event["type"])
    if cloud_event["type"] != STORAGE_FINALIZED:
        log.warning("unexpected_trigger")
        return
    try:
        upload = Upload.from_event(cloud_event.data)
    except PermanentError as error:
        log.warning("upload_unreadable", reason=error.reason)
        return
    bind_message_context(
        function="ingestion_on_upload",
        message_id=upload.unit_id,
        correlation_id=upload.unit_id,
        message_type=STORAGE_FINALIZED,
    )
    service = bootstrap.ingestion_service(bootstrap.platform())
    try:
        outcome = service.ingest_upload(upload)
    except TransientError as error:
        log.warning("upload_retry", error=type(error).__name__, detail=str(error)[:200])
        raise
    log.info("upload_processed", outcome=outcome, unit_id=upload.unit_id)


@functions_framework.cloud_event
def ingestion_ingest_package_entry(cloud_event: Any) -> None:
    p = bootstrap.platform()
    try:
        envelope = from_eventarc(cloud_event["type"], cloud_event.data)
        if not isinstance(envelope.payload, IngestPackageEntry):
            raise InvalidMessage("unsupported_message", envelope.type[:120])
    except InvalidMessage as error:
        keep_unreadable(cloud_event, error, p.publisher, names.DEAD_LETTER_TOPIC)
        log.warning("message_rejected", reason=error.reason)
        return
    bind_message_context(
        function="ingestion_ingest_package_entry",
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        message_id=envelope.id,
        message_type=envelope.type,
    )
    try:
        outcome = bootstrap.ingestion_service(p).ingest_entry(envelope)
    except TransientError as error:
        log.warning("message_retry", error=type(error).__name__, detail=str(error)[:200])
        raise
    log.info("message_processed", outcome=outcome)


@functions_framework.http
@answers_errors
def ingestion_queries_http(request: flask.Request) -> flask.Response:
    p = bootstrap.platform()
    collection = bootstrap.ingestion_collections(p).images
    endpoint, args = match_route(_QUERY_ROUTES, request)
    if endpoint == "get":
        found = queries.get_image(p.store, collection, args["image_id"])
        if found is None:
            raise HttpError(404, "image_not_found", "no such image")
        return json_response(found)
    return json_response(
        queries.list_images(
            p.store,
            collection,
            request.args,
            limit=page_size(request.args.get("limit")),
            cursor=request.args.get("cursor"),
        )
    )
