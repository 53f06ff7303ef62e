"""The local Cloud Scheduler POSTs each `schedules:` job to its HTTP function when it is due."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import ANY

import pytest

from infra.local.scheduler import Scheduler, jobs_of
from infra.local.topology import Topology

TOPOLOGY = {
    "topics": ["t"],
    "functions": {
        "tick-http": {"target": "tick_http", "trigger": {"http": {}}},
        "worker": {"target": "worker", "trigger": {"pubsub": {"topic": "t"}}},
    },
    "schedules": {
        # 09:00 in Bogotá is 14:00 UTC.
        "morning": {"function": "tick-http", "schedule": "0 9 * * *",
                    "time_zone": "America/Bogota", "path": "/tick", "body": {"kind": "daily"}},
        "hourly": {"function": "tick-http", "schedule": "30 * * * *"},
    },
}  # fmt: skip


@pytest.fixture
def received() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in functions host that records every POST."""
    calls: list[dict[str, Any]] = []

    class Record(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append({"path": self.path, "headers": dict(self.headers),
                          "body": json.loads(body)})  # fmt: skip
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()


def _wait_for(calls: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(calls) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return calls


def test_a_job_runs_at_its_cron_time_in_its_time_zone(
    received: tuple[str, list[dict[str, Any]]],
) -> None:
    url, calls = received
    now = [datetime(2026, 12, 2, 13, 59, 58, tzinfo=UTC)]
    topology = Topology.model_validate(TOPOLOGY)
    jobs = jobs_of(topology, url, now[0])
    assert {job.name: job.next_run for job in jobs} == {
        "morning": datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
        "hourly": datetime(2026, 12, 2, 14, 30, tzinfo=UTC),
    }

    scheduler = Scheduler(jobs, clock=lambda: now[0])
    scheduler.start()
    try:
        time.sleep(1.5)
        assert calls == []  # not due yet
        now[0] += timedelta(seconds=3)
        [call] = _wait_for(calls, 1)
    finally:
        scheduler.stop()
    assert call["path"] == "/tick_http/tick"
    assert call["body"] == {"kind": "daily"}
    assert call["headers"]["X-CloudScheduler-JobName"] == "morning"
    assert call["headers"]["X-CloudScheduler-ScheduleTime"] == "2026-12-02T14:00:00Z"
    assert scheduler.describe()[0]["next_run"] == "2026-12-03T14:00:00+00:00"
    assert scheduler.describe()[1]["last_run"] == {}  # not due: never called


def test_run_now_runs_a_job_out_of_schedule(received: tuple[str, list[dict[str, Any]]]) -> None:
    url, calls = received
    scheduler = Scheduler(jobs_of(Topology.model_validate(TOPOLOGY), url, datetime.now(UTC)))
    assert scheduler.run_now("morning")
    [call] = _wait_for(calls, 1)
    assert call["path"] == "/tick_http/tick"
    deadline = time.monotonic() + 5
    while scheduler.describe()[0]["running"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scheduler.describe()[0]["last_run"] == {"at": ANY, "status": 204}
