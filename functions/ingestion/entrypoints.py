"""Cloud Function entry points of the ingestion context: thin, one hop to the pipeline.

- ingestion_on_upload: `google.cloud.storage.object.v1.finalized` on the ingest bucket, or
  (in the cloud) the bucket's OBJECT_FINALIZE notification pushed by Pub/Sub.
- ingestion_ingest_package_entry_v2: IngestPackageEntryV2, one entry of a zip package.
- ingestion_ingest_package_entry: IngestPackageEntry v1 (no longer published: drains).
- ingestion_record_dead_letter: records what died on ingestion-dead-letter.
- ingestion_queries_http: the catalogue (GET /images/<id>, GET /images?...), a center's
  quarantined uploads (GET /rejections?center=...) and the context's dead letters.
"""

from __future__ import annotations

import json

import flask
import functions_framework
from werkzeug.routing import Map, Rule

from functions import bootstrap
from functions.ingestion import queries, wiring
from functions.ingestion.domain import Upload
from functions.ingestion.messages import NAMES, IngestPackageEntry, IngestPackageEntryV2
from shared.domain.errors import InvalidMessage, PermanentError, TransientError
from shared.entrypoints.dead_letter_door import serves_dead_letters
from shared.entrypoints.http import HttpError, answers_errors, json_response, match_route
from shared.entrypoints.pubsub import CloudEventLike, consume, record_dead_letter
from shared.logging import bind_message_context, get_logger
from shared.ports.envelope import PUBSUB_PUBLISHED, unwrap_pubsub_push
from shared.service.pagination import page_size, refuse_unknown_parameters

log = get_logger(__name__)
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"

_QUERY_ROUTES = Map(
    [
        Rule("/images", endpoint="list", methods=["GET"]),
        Rule("/images/<image_id>", endpoint="get", methods=["GET"]),
        Rule("/rejections", endpoint="rejections", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _wiring() -> wiring.IngestionWiring:
    return bootstrap.context(wiring.build)


@functions_framework.cloud_event
def ingestion_on_upload(cloud_event: CloudEventLike) -> None:
    """Ack (return) when the upload is done or can never be; raise to be redelivered."""
    bind_message_context(function="ingestion_on_upload", message_type=cloud_event["type"])
    resource = _finalized_object(cloud_event)
    if resource is None:
        log.warning("unexpected_trigger")
        return
    try:
        upload = Upload.from_event(resource)
    except PermanentError as error:
        log.warning("upload_unreadable", reason=error.reason)
        return
    bind_message_context(
        function="ingestion_on_upload",
        message_id=upload.unit_id,
        correlation_id=upload.unit_id,
        message_type=STORAGE_FINALIZED,
    )
    service = _wiring().service
    try:
        outcome = service.ingest_upload(upload)
    except TransientError as error:
        log.warning("upload_retry", error=type(error).__name__, detail=str(error)[:200])
        raise
    log.info("upload_processed", outcome=outcome, unit_id=upload.unit_id)


def _finalized_object(cloud_event: CloudEventLike) -> object | None:
    """The object resource of a finalize: sent as is by Eventarc and the local bridge; in the
    cloud, the bucket's Pub/Sub notification pushed by our own subscription, which has a
    dead-letter topic (docs/deploy.md)."""
    data: object = cloud_event.data
    if cloud_event["type"] == STORAGE_FINALIZED:
        return data
    if cloud_event["type"] != PUBSUB_PUBLISHED:
        return None
    try:
        raw, attributes, _ = unwrap_pubsub_push(cloud_event.data)
        if attributes.get("eventType") != "OBJECT_FINALIZE":
            return None
        if attributes.get("payloadFormat") == "NONE":
            return _stat_notified_object(attributes)
        resource: object = json.loads(raw)
    except (InvalidMessage, ValueError, KeyError):
        return None
    return resource


def _stat_notified_object(attributes: dict[str, str]) -> object | None:
    """The resource of a notification sent with `payload_format = NONE` (what Terraform
    sets): the object's metadata, clinical history included, then never travels on a topic;
    only its bucket, name and generation do, as attributes. Read it from the object itself.
    A generation that is no longer the live one was replaced (its successor has its own
    notification) or deleted: nothing to ingest."""
    bucket, name = attributes["bucketId"], attributes["objectId"]
    generation = int(attributes["objectGeneration"])
    info = _wiring().platform.blobs.stat(bucket, name)
    if info is None or info.generation != generation:
        log.info("upload_superseded")
        return None
    return {
        "bucket": bucket,
        "name": name,
        "generation": str(generation),
        "size": str(info.size),
        "contentType": info.content_type or "",
        "metadata": info.metadata,
    }


@functions_framework.cloud_event
def ingestion_ingest_package_entry_v2(cloud_event: CloudEventLike) -> None:
    """IngestPackageEntryV2 → pipeline.IngestionService.ingest_entry_v2."""
    w = _wiring()
    consume(
        cloud_event,
        IngestPackageEntryV2,
        w.service.ingest_entry_v2,
        function="ingestion_ingest_package_entry_v2",
        context=NAMES,
        publisher=w.platform.publisher,
    )


@functions_framework.cloud_event
def ingestion_ingest_package_entry(cloud_event: CloudEventLike) -> None:
    """IngestPackageEntry v1 → pipeline.IngestionService.ingest_entry (kept until no v1
    command is left in flight; nothing publishes v1 any more)."""
    w = _wiring()
    consume(
        cloud_event,
        IngestPackageEntry,
        w.service.ingest_entry,
        function="ingestion_ingest_package_entry",
        context=NAMES,
        publisher=w.platform.publisher,
    )


@functions_framework.cloud_event
def ingestion_record_dead_letter(cloud_event: CloudEventLike) -> None:
    """Whatever reached ingestion-dead-letter → shared/service/dead_letters.py."""
    record_dead_letter(
        cloud_event,
        function="ingestion_record_dead_letter",
        context=NAMES,
        dead_letters=_wiring().platform.dead_letters,
    )


@functions_framework.http
@answers_errors
@serves_dead_letters(lambda: _wiring().platform)
def ingestion_queries_http(request: flask.Request) -> flask.Response:
    w = _wiring()
    store, collection = w.platform.store, w.collections.images
    endpoint, args = match_route(_QUERY_ROUTES, request)
    if endpoint == "get":
        # `center`: only that center's (another's is answered as if it did not exist).
        refuse_unknown_parameters(request.args, {"center"})
        found = queries.get_image(store, collection, args["image_id"])
        center = request.args.get("center")
        if found is None or center not in (None, found["data_source"]):
            raise HttpError(404, "image_not_found", "no such image")
        return json_response(found)
    if endpoint == "rejections":
        refuse_unknown_parameters(request.args, {"center", "limit", "cursor"})
        center = request.args.get("center", "")
        if not center:
            raise HttpError(400, "missing_parameter", "center is required", field="center")
        limit, cursor = page_size(request.args.get("limit")), request.args.get("cursor")
        rejections = w.collections.rejections
        return json_response(
            queries.rejections_of_center(store, rejections, center, limit=limit, cursor=cursor)
        )
    return json_response(
        queries.list_images(
            store,
            collection,
            request.args,
            limit=page_size(request.args.get("limit")),
            cursor=request.args.get("cursor"),
        )
    )
