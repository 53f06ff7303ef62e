"""Serving one WSGI app as a local stack process (functions host, router, fake Stripe)."""

from __future__ import annotations

from typing import Any

from werkzeug.serving import make_server


def serve(host: str, port: int, app: Any) -> None:
    """Serve `app` threaded until interrupted; the socket is closed on the way out."""
    server = make_server(host, port, app, threaded=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # the supervisor's stop: a normal end, not an error
    finally:
        server.server_close()
