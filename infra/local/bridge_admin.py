"""The bridge's admin HTTP API: status, delivery stats and run-time chaos switches.

GET /status, GET /stats, GET /chaos, POST /chaos (JSON, partial update),
POST /stats/reset, GET /schedules, POST /schedules/<job>/run. Loopback only; local use.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from infra.local.bridge import Bridge
    from infra.local.scheduler import Scheduler


class _AdminHandler(BaseHTTPRequestHandler):
    bridge: Bridge  # set on the subclass built per server
    scheduler: Scheduler | None

    def log_message(self, format: str, *args: object) -> None:
        pass  # polled often by status checks; the bridge log has what matters

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/status":
            self._reply(200, self.bridge.status())
        elif self.path == "/stats":
            self._reply(200, self.bridge.stats())
        elif self.path == "/chaos":
            self._reply(200, self.bridge.chaos.settings.model_dump())
        elif self.path == "/schedules":
            self._reply(200, self.scheduler.describe() if self.scheduler else [])
        else:
            self._reply(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        if self.path == "/stats/reset":
            self.bridge.reset_stats()
            self._reply(200, self.bridge.stats())
        elif self.path == "/chaos":
            length = int(self.headers.get("Content-Length") or 0)
            try:
                changes = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                settings = self.bridge.chaos.settings.updated(changes)
            except (ValueError, ValidationError) as error:
                self._reply(400, {"error": str(error)})
                return
            self.bridge.chaos.replace(settings)
            self._reply(200, settings.model_dump())
        elif self.path.startswith("/schedules/") and self.path.endswith("/run"):
            self._run_schedule(self.path.removeprefix("/schedules/").removesuffix("/run"))
        else:
            self._reply(404, {"error": f"no such path {self.path}"})

    def _run_schedule(self, job: str) -> None:
        if self.scheduler is None or job not in self.scheduler.jobs:
            self._reply(404, {"error": f"no schedule {job}"})
        elif self.scheduler.run_now(job):
            self._reply(202, {"job": job, "started": True})
        else:
            self._reply(409, {"job": job, "started": False, "error": "a run is still going"})


class AdminServer:
    def __init__(
        self,
        bridge: Bridge,
        port: int,
        host: str = "127.0.0.1",
        scheduler: Scheduler | None = None,
    ) -> None:
        handler = type(
            "BoundAdminHandler", (_AdminHandler,), {"bridge": bridge, "scheduler": scheduler}
        )
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bridge-admin", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
