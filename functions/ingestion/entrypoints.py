"""Cloud Function entry points of the ingestion context: thin, one hop to the pipeline.

- ingestion_on_upload: `google.cloud.storage.object.v1.finalized` on the ingest bucket, or
  (in the cloud) the bucket's OBJECT_FINALIZE notification pushed by Pub/Sub.
- ENTRY_POINTS: the upload's function, and one function per command of handlers.HANDLERS,
  made from it: ingestion_ingest_package_entry_v2 (IngestPackageEntryV2, one entry of a zip
  package) and ingestion_ingest_package_entry (IngestPackageEntry v1, no longer published:
  drains); and ingestion_record_dead_letter, which records what died on ingestion-dead-letter.
- ingestion_queries_http: the catalogue (GET /images/<id>, GET /images?...), a center's
  quarantined uploads (GET /rejections?center=...), uploads and studies, every center's
  quarantine for review, command status and the context's dead letters.
- ingestion_commands_http: an operator's review of quarantine (release, discard), which
  the functions ingestion_release_quarantined and ingestion_discard_quarantined carry out.
"""

from __future__ import annotations

import json

import flask
import functions_framework

from functions import bootstrap
from functions.ingestion import doors, wiring
from functions.ingestion.domain import Upload
from functions.ingestion.handlers import HANDLERS
from functions.ingestion.messages import NAMES
from shared.domain.errors import InvalidMessage, PermanentError, TransientError
from shared.domain.messages import Message
from shared.entrypoints.http_app import serve
from shared.entrypoints.pubsub import CloudEventLike, consume, entry_points, handled_by
from shared.entrypoints.pushed import pushed_event
from shared.logging import bind_message_context, get_logger
from shared.ports.envelope import PUBSUB_PUBLISHED, unwrap_pubsub_push

log = get_logger(__name__)
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"


def _wiring() -> wiring.IngestionWiring:
    return bootstrap.context(wiring.build)


@pushed_event
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


def _consume(cloud_event: CloudEventLike, expects: type[Message], function: str) -> None:
    w = _wiring()
    consume(
        cloud_event,
        expects,
        handled_by(HANDLERS[expects], w.service.processor, w.service),
        function=function,
        context=NAMES,
        publisher=w.platform.publisher,
        sealer=w.platform.sealer,
    )


# ingestion_<command> for each command of handlers.HANDLERS, ingestion_record_dead_letter,
# and the upload's function above, which takes a storage event rather than a message (main.py
# exports them).
ENTRY_POINTS = {
    **entry_points(NAMES, HANDLERS, _consume, lambda: _wiring().platform.dead_letters),
    "ingestion_on_upload": ingestion_on_upload,
}


@functions_framework.http
def ingestion_queries_http(request: flask.Request) -> flask.Response:
    """The catalogue, the quarantine, the dead letters: doors.queries."""
    return serve(doors.queries, request)


@functions_framework.http
def ingestion_commands_http(request: flask.Request) -> flask.Response:
    """An operator's review of quarantine: doors.commands."""
    return serve(doors.commands, request)
