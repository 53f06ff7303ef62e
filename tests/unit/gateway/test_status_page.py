"""The status page shows what `saludtech-gateway status` shows, as HTML and as JSON, and
escapes what it shows."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import requests

from gateway import status
from gateway.status_page import serve


def test_the_page_and_its_json_show_the_queue_and_the_counters(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    status.write(status_file, {"state": "running", "pid": os.getpid(), "updated_at": time.time(),
                               "received": 12, "sent_instances": 9, "sent_batches": 1,
                               "last_error": "<unreachable>", "last_error_at": time.time()})  # fmt: skip
    server = serve(status_file, lambda: (3, 4_000_000), "127.0.0.1", 0)
    try:
        host, port = server.server_address[:2]
        base = f"http://{host!s}:{port}"
        shown = requests.get(f"{base}/status.json", timeout=5).json()
        assert (shown["running"], shown["queue_instances"], shown["received"]) == (True, 3, 12)
        page = requests.get(base, timeout=5)
        assert page.headers["Content-Type"].startswith("text/html")
        assert "queue:            3 instances, 4.0 MB" in page.text
        assert "&lt;unreachable&gt;" in page.text and "<unreachable>" not in page.text
        assert requests.get(f"{base}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()


def test_a_stopped_gateway_says_so(tmp_path: Path) -> None:
    server = serve(tmp_path / "status.json", lambda: (0, 0), "127.0.0.1", 0)
    try:
        host, port = server.server_address[:2]
        shown = requests.get(f"http://{host!s}:{port}/status.json", timeout=5).json()
        assert shown["running"] is False
        assert json.dumps(shown)  # plain JSON, no text block
        assert "text" not in shown
    finally:
        server.shutdown()
