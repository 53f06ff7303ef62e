"""STOW-RS for health centers (docs/api.md "STOW-RS"): `POST /v1/dicomweb/studies` (and
`/v1/dicomweb/studies/<study>`, whose instances must be of that study) with a CENTER's
token and a `multipart/related; type="application/dicom"` body, one instance per part.

Each instance is written create-only under the caller's own prefix of the ingest bucket,
`<center>/stow/<random>.dcm` (the center from the token, never from the request), and
from there goes through ingestion as any upload does (de-identification, catalogue or
quarantine): the answer says what was received, not what was catalogued. The body is read
as a stream (stow.py), never whole in memory, up to SALUDTECH_API_STOW_MAX_BYTES and
SALUDTECH_API_STOW_MAX_PARTS.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import flask
from pydantic import BaseModel, Field
from werkzeug.exceptions import RequestEntityTooLarge

from functions.api import stow
from functions.api.guard import current
from functions.api.parameters import PathId
from functions.api.routing import CENTER, Routes
from functions.api.wiring import INGEST_BUCKET
from shared.entrypoints.http import HttpError, error_response
from shared.entrypoints.http_app import takes_stream
from shared.logging import get_logger
from shared.ports.blobs import BlobExists, BlobUnavailable

routes = Routes("stow", "STOW-RS: a center sends DICOM instances into its ingestion")
log = get_logger(__name__)

_RESPONSE = {
    "description": "the Store Instances Response (PS3.18 10.5.3): ReferencedSOPSequence "
    "(0008,1199) the instances received, FailedSOPSequence (0008,1198) the others with their "
    "FailureReason (0008,1197); no RetrieveURL",
    "content": {stow.DICOM_JSON: {"schema": {"type": "object"}}},
}
_EXTRA: dict[int, Any] = {202: _RESPONSE, 409: _RESPONSE}
_REFUSED = (411,)


class StudyTarget(BaseModel):
    study_id: PathId = Field(description="a StudyInstanceUID: every instance must be of it")


def _limits() -> stow.StowLimits:
    settings = current().wiring.platform.settings
    return stow.StowLimits(settings.api_stow_max_bytes, settings.api_stow_max_parts)


def _streamed(response: flask.Response, whole_body_read: bool) -> flask.Response:
    """An answer functions-framework does not follow by reading what is left of the body
    (its `read_request` hook reads it whole into memory unless the answer is streamed); a
    body left unread closes the connection."""
    response.response = iter([response.get_data()])
    if not whole_body_read:
        response.headers["Connection"] = "close"
    return response


def _refused(status: int, reason: str, detail: str) -> flask.Response:
    return _streamed(error_response(HttpError(status, reason, detail)), whole_body_read=False)


def _body(limits: stow.StowLimits) -> Any:
    """The request's body stream, under this route's own limit (not the app's)."""
    request = flask.request
    length = request.content_length
    if length is not None and length > limits.max_bytes:
        raise stow.StowRefused(
            413, "body_too_large", f"at most {limits.max_bytes} bytes per request"
        )
    if length is None and "wsgi.input_terminated" not in request.environ:
        # A chunked body the server does not terminate cannot be read safely.
        raise stow.StowRefused(411, "length_required", "send Content-Length")
    # One more byte than the limit: past it the parser refuses with its own reason.
    request.max_content_length = limits.max_bytes + 1
    return request.stream


def _store(part: stow.Part, instance: stow.Instance, center: str) -> stow.Instance:
    w = current().wiring
    bucket = w.platform.settings.bucket(INGEST_BUCKET)
    name = f"{center}/stow/{uuid.uuid4().hex}.dcm"
    try:
        w.platform.blobs.write(
            bucket, name, part.content, create_only=True, content_type=stow.DICOM
        )
    except (BlobUnavailable, BlobExists):
        return stow.Instance(
            instance.sop_class, instance.sop_instance, instance.study, stow.OUT_OF_RESOURCES,
            "store_unavailable",
        )  # fmt: skip
    return instance


def store_instances(study: str | None) -> flask.Response:
    call = current()
    center = call.principal.scope
    call.resource.append(f"center/{center}/stow")
    limits = _limits()
    request = flask.request
    answer = stow.StoreResponse()
    try:
        boundary = stow.boundary_of(request.headers.get("Content-Type", ""))
        body = _body(limits)
        for part in stow.parts(body.read, boundary, limits):
            instance = stow.identify(part, study)
            if instance.failure is None:
                instance = _store(part, instance, center)
            if instance.failure is not None:
                # The rule and the part's place, never its UIDs (PHI stays out of logs).
                log.info("stow_part_failed", why=instance.why, failure=hex(instance.failure))
            answer.add(instance)
    except stow.StowRefused as error:
        return _refused(error.status, error.reason, error.detail)
    except RequestEntityTooLarge:
        return _refused(413, "body_too_large", f"at most {limits.max_bytes} bytes per request")
    log.info(
        "stow_received", stored=len(answer.stored), failed=len(answer.failed),
        status=answer.status,
    )  # fmt: skip
    payload = json.dumps(answer.dicom_json(), separators=(",", ":"))
    response = flask.Response(payload, status=answer.status, content_type=stow.DICOM_JSON)
    return _streamed(response, whole_body_read=True)


@routes.post(
    "/v1/dicomweb/studies", 200, _RESPONSE, roles=CENTER, refused=_REFUSED, extra=_EXTRA,
    summary='STOW-RS: send instances (multipart/related; type="application/dicom") into '
    "your ingestion",
)  # fmt: skip
@takes_stream
def stow_store_instances() -> flask.Response:
    """200 every instance received, 202 some, 409 none; each received instance then goes
    through ingestion (de-identification, catalogue) as any upload of the center does."""
    return store_instances(None)


@routes.post(
    "/v1/dicomweb/studies/<id:study_id>", 200, _RESPONSE, roles=CENTER, refused=_REFUSED,
    extra=_EXTRA, summary="STOW-RS: send instances of one study into your ingestion",
)  # fmt: skip
@takes_stream
def stow_store_study_instances(path: StudyTarget) -> flask.Response:
    """As POST /v1/dicomweb/studies; an instance of another study fails (0xA900)."""
    return store_instances(path.study_id)
