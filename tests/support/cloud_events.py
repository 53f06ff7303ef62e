"""Deliveries exactly as the platform POSTs them to a function, for tests that call one
directly: Pub/Sub's own push body (what our push subscriptions send in the cloud), or a
CloudEvent in binary mode (what Eventarc and the local bridge send)."""

from __future__ import annotations

import base64
import json
from typing import Any

import flask
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from werkzeug.test import EnvironBuilder


def request_of(body: bytes, headers: dict[str, str]) -> flask.Request:
    builder = EnvironBuilder(path="/", method="POST", data=body, headers=list(headers.items()))
    try:
        return flask.Request(builder.get_environ())
    finally:
        builder.close()


def pushed(
    data: bytes | None, attributes: dict[str, str], message_id: str = "m-1", topic: str = "t"
) -> dict[str, Any]:
    """Pub/Sub's push body; `data=None` leaves `data` out, as Pub/Sub does for a message
    without data (a bucket notification configured without payload)."""
    message: dict[str, Any] = {
        "attributes": attributes,
        "messageId": message_id,
        "publishTime": "2026-12-05T10:00:00.000Z",
    }
    if data is not None:
        message["data"] = base64.b64encode(data).decode()
    return {"message": message, "subscription": f"projects/p/subscriptions/trigger-{topic}"}


def pubsub_event(
    data: bytes | None, attributes: dict[str, str], message_id: str = "m-1", topic: str = "t"
) -> flask.Request:
    """One message as our push subscription POSTs it to the function."""
    body = json.dumps(pushed(data, attributes, message_id, topic)).encode()
    return request_of(body, {"Content-Type": "application/json"})


def binary_event(event: CloudEvent) -> flask.Request:
    """A CloudEvent as Eventarc (and the local bridge) POST it: binary mode."""
    headers, body = to_binary(event)
    return request_of(body, dict(headers))
