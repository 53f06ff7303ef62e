"""Doors called in the same process: the unit tests' adapter (one process holds every
function). The request and answer go through the same Flask objects the functions-framework
gives a function, so a door sees exactly what it would see over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import flask
from urllib3.util import parse_url
from werkzeug.test import EnvironBuilder

from shared.ports.doors import DoorAnswer, DoorUnavailable, is_json

DoorFunction = Callable[[flask.Request], flask.Response]


class InProcessDoors:
    def __init__(self, resolve: Callable[[str], DoorFunction]) -> None:
        self._resolve = resolve

    def call(
        self,
        target: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> DoorAnswer:
        door = self._resolve(target)
        # The path as HttpDoors sends it: urllib3 removes the dot segments (RFC 3986 5.2.4).
        bare, question, rest = path.partition("?")
        sent_path = (parse_url(bare).path or "/") + question + rest
        builder = EnvironBuilder(
            path=sent_path, method=method, query_string=urlencode(dict(params or {})),
            headers=list((headers or {}).items()),
            data=None if body is None else json.dumps(body),
            content_type=None if body is None else "application/json",
        )  # fmt: skip
        try:
            response = door(flask.Request(builder.get_environ()))
        finally:
            builder.close()
        if response.status_code >= 500:
            raise DoorUnavailable(f"{target} answered {response.status_code}")
        raw = response.get_data()
        if 200 <= response.status_code < 300 and not is_json(response.headers.get("Content-Type")):
            return DoorAnswer(
                response.status_code, None, dict(response.headers), content=iter([raw])
            )
        return DoorAnswer(
            response.status_code, json.loads(raw) if raw else None, dict(response.headers)
        )
