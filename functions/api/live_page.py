"""The live page (static HTML and script, read once from static/), served by the API."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import flask

_STATIC = Path(__file__).parent / "static"
_FILES = {"live_page": ("live.html", "text/html"), "live_script": ("live.js", "text/javascript")}
# The page runs only its own script and talks only to its own origin.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
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
