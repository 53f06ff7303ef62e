"""A small status page for the hospital's IT team: the same view as `saludtech-gateway
status`, in a browser, refreshed every few seconds, and as JSON for their monitoring.

Served on 127.0.0.1 by default (`status_port` under [status] in the config; 0 turns it off):
it shows counts, times and reason codes only, never PHI, but it is an operations view, not
something to expose beyond the host. It reads the status file the gateway writes and counts
the spool, so it answers the same whether the gateway's threads are busy or not.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway import status

REFRESH_SECONDS = 5


def snapshot(status_file: Path, depth: Callable[[], tuple[int, int]]) -> dict[str, Any]:
    """What the page and its JSON show: the status file's values, the queue counted now."""
    values = status.read(status_file)
    instances, size = depth()
    now = time.time()
    return {
        **(values or {}),
        "running": status.is_running(values, now),
        "queue_instances": instances,
        "queue_bytes": size,
        "text": status.render(values, (instances, size), now),
    }


def page(view: dict[str, Any]) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        "<title>SaludTech gateway</title></head><body>"
        "<h1>SaludTech edge gateway</h1>"
        f"<pre>{html.escape(view['text'])}</pre>"
        '<p><a href="/status.json">status.json</a></p></body></html>'
    )


def serve(
    status_file: Path, depth: Callable[[], tuple[int, int]], host: str, port: int
) -> ThreadingHTTPServer:
    """Start the page in a daemon thread; `server.server_address` says where it listens."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            view = snapshot(status_file, depth)
            if self.path == "/status.json":
                body = json.dumps({k: v for k, v in view.items() if k != "text"}, sort_keys=True)
                self._answer(200, "application/json", body)
            elif self.path in ("/", "/index.html"):
                self._answer(200, "text/html; charset=utf-8", page(view))
            else:
                self._answer(404, "text/plain", "not found")

        def _answer(self, code: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # request lines would only repeat "GET /": nothing worth a log line

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="gateway-status-page", daemon=True)
    thread.start()
    return server
