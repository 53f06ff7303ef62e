"""The public pages: this API's OpenAPI document and the live page (the buyer's console)
with its scripts and styles."""

from __future__ import annotations

import json
from typing import cast

import flask
from flask_openapi3.openapi import OpenAPI

from functions.api import live_page
from functions.api.routing import Routes
from shared.entrypoints.http_app import openapi_document

routes = Routes("public", "this document and the live page")


def _text(media: str, description: str) -> dict[str, object]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


@routes.get(
    "/v1/openapi.json",
    {
        "description": "this document",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    roles=None,
    summary="this document (generated from the routes' models)",
)
def openapi() -> flask.Response:
    app = cast(OpenAPI, flask.current_app)
    served = openapi_document(app, servers=[{"url": flask.request.script_root or "/"}])
    return flask.Response(json.dumps(served), mimetype="application/json")


@routes.get("/v1/live", _text("text/html", "the live page"), roles=None, summary="the live page")
def live() -> flask.Response:
    return live_page.response("live_page")


@routes.get(
    "/v1/live.js",
    _text("text/javascript", "the live page's script"),
    roles=None,
    summary="the live page's script",
)
def live_script() -> flask.Response:
    return live_page.response("live_script")


@routes.get(
    "/v1/live-api.js",
    _text("text/javascript", "the live page's api client"),
    roles=None,
    summary="the live page's api client (a module of live.js)",
)
def live_api_script() -> flask.Response:
    return live_page.response("live_api_script")


@routes.get(
    "/v1/live.css", _text("text/css", "the live page's styles"), roles=None,
    summary="the live page's styles",
)  # fmt: skip
def live_style() -> flask.Response:
    return live_page.response("live_style")
