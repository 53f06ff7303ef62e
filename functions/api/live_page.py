"""The live page, the buyer's console (static HTML, its stylesheet and two scripts, read
once from static/), served by the API."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import flask

_STATIC = Path(__file__).parent / "static"
_FILES = {
    "live_page": ("live.html", "text/html"),
    "live_script": ("live.js", "text/javascript"),
    "live_api_script": ("live-api.js", "text/javascript"),
    "live_style": ("live.css", "text/css"),
}
# The page runs only its own scripts and styles and talks only to its own origin (the
# delivered files' signed URLs are links the buyer follows, never fetched by the page).
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return (_STATIC / name).read_bytes()


def response(endpoint: str) -> flask.Response:
    name, mimetype = _FILES[endpoint]
    return flask.Response(_read(name), mimetype=mimetype, headers=_HEADERS)
