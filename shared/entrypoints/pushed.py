"""The HTTP request a push delivers, read as the CloudEvent the event functions consume.

Every Pub/Sub- and storage-triggered function is an HTTP function behind a push
subscription, and it takes whichever of three shapes arrives:
- a CloudEvent in binary or structured mode, as Eventarc and the local bridge POST it;
- Pub/Sub's own push body, `{"message": {...}, "subscription": ...}`, as our push
  subscriptions POST it in the cloud, **with or without** `message.data`. The bucket's
  notification is configured without payload (object metadata never travels on a topic), so
  its message has attributes only. functions-framework's own conversion refuses such a body
  with a 400, so every upload would be retried and then dead-lettered.

The function answers 204 when it is done (Pub/Sub acknowledges), and lets a TransientError
become a 500 (Pub/Sub redelivers with backoff until the dead-letter topic). A body that is
none of these shapes gets a 400 with a reason and nothing of what it held.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from typing import Any

import flask
import functions_framework
from cloudevents.http import CloudEvent, from_http
from cloudevents.sdk.converters import is_binary

from shared.entrypoints.http import HttpError, error_response
from shared.logging import get_logger
from shared.ports.envelope import PUBSUB_PUBLISHED

log = get_logger(__name__)
EventFunction = Callable[[Any], None]
PushedFunction = Callable[[flask.Request], flask.Response]


def cloud_event_of(request: flask.Request) -> CloudEvent:
    headers = dict(request.headers)
    body = request.get_data()
    if is_binary(headers):
        return _read_cloud_event(headers, body)
    try:
        pushed = json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, "not_an_event", "neither a CloudEvent nor a Pub/Sub push") from error
    if isinstance(pushed, dict) and isinstance(pushed.get("message"), dict):
        return _published(pushed["message"], str(pushed.get("subscription") or ""))
    if isinstance(pushed, dict) and "specversion" in pushed:  # structured mode
        return _read_cloud_event(headers, body)
    raise HttpError(400, "not_an_event", "neither a CloudEvent nor a Pub/Sub push")


def _read_cloud_event(headers: dict[str, str], body: bytes) -> CloudEvent:
    try:
        return from_http(headers, body)
    except Exception as error:  # cloudevents raises its own hierarchy, and ValueError
        raise HttpError(400, "malformed_cloud_event", "the CloudEvent cannot be read") from error


def _published(message: dict[str, Any], subscription: str) -> CloudEvent:
    """The `messagePublished` CloudEvent Eventarc would make of a pushed message."""
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    attributes = {
        "type": PUBSUB_PUBLISHED,
        "source": f"//pubsub.googleapis.com/{subscription}",
        "id": message_id or str(uuid.uuid4()),
    }
    published = message.get("publishTime") or message.get("publish_time")
    if isinstance(published, str) and published:
        attributes["time"] = published
    data = {
        "message": {
            "data": message.get("data") or "",
            "attributes": message.get("attributes") or {},
            "messageId": message_id,
        },
        "subscription": subscription,
    }
    return CloudEvent(attributes, data)


def pushed_event(function: EventFunction) -> PushedFunction:
    """`function(cloud_event)` as the HTTP function a push subscription calls, registered
    with functions-framework under the function's name (its `--target`)."""

    @functools.wraps(function)
    def on_push(request: flask.Request) -> flask.Response:
        try:
            event = cloud_event_of(request)
        except HttpError as refused:
            log.warning("push_unreadable", reason=refused.reason)
            return error_response(refused)
        function(event)
        return flask.Response(status=204)

    functions_framework.http(on_push)  # registers it as an HTTP function, returns it as is
    return on_push
