"""Probe functions served by the local stack in the bridge tests (not product code).

Each probe appends one JSON line per delivery attempt to $SALUDTECH_PROBE_DIR/<target>.jsonl
(the CloudEvent's context and data, the outcome), so a test can see exactly what the bridge
sent and how often. A Pub/Sub message steers the probe through its `probe_behaviour`
attribute: `ok` (default), `fail` (always HTTP 500: a poison message), `fail-first-N` (fail
the first N attempts of that event id, then succeed), `sleep-MS` (before sleeping, the
attempt is noted in <target>.started.jsonl, so a test knows the request reached the probe).

Most probes are deliberately undecorated: the functions host must apply the signature
type the topology implies. probe_gcs uses the decorator, which must keep working too.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import flask
import functions_framework
from cloudevents.http import CloudEvent

_lock = threading.Lock()
_attempts: Counter[str] = Counter()


def _attributes(event: CloudEvent) -> dict[str, str]:
    data = event.get_data()
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        return dict(data["message"].get("attributes") or {})
    return {}


def _record(
    target: str, event: CloudEvent, outcome: str, attempt: int, file: str | None = None
) -> None:
    directory = os.environ.get("SALUDTECH_PROBE_DIR")
    if not directory:
        return
    line = json.dumps(
        {
            "target": target,
            "attributes": {key: event[key] for key in event.get_attributes()},
            "data": event.get_data(),
            "outcome": outcome,
            "attempt": attempt,
            "received_at": time.time(),
        },
        default=str,
    )
    with _lock, (Path(directory) / f"{file or target}.jsonl").open("a", encoding="utf-8") as sink:
        sink.write(line + "\n")


def _behave(target: str, event: CloudEvent) -> None:
    behaviour = _attributes(event).get("probe_behaviour", "ok")
    with _lock:
        _attempts[f"{target}/{event['id']}"] += 1
        attempt = _attempts[f"{target}/{event['id']}"]
    failing = behaviour == "fail" or (
        behaviour.startswith("fail-first-") and attempt <= int(behaviour.rsplit("-", 1)[1])
    )
    if behaviour.startswith("sleep-"):
        _record(target, event, "started", attempt, file=f"{target}.started")
        time.sleep(int(behaviour.split("-", 1)[1]) / 1000)
    _record(target, event, "failed" if failing else "ok", attempt)
    if failing:
        # An exception becomes HTTP 500, as in the cloud: the platform retries.
        raise RuntimeError(f"probe told to fail attempt {attempt}")


def probe_record(event: CloudEvent) -> None:
    _behave("probe_record", event)


def probe_filtered(event: CloudEvent) -> None:
    _behave("probe_filtered", event)


def probe_slow(event: CloudEvent) -> None:
    _behave("probe_slow", event)


def probe_chaos(event: CloudEvent) -> None:
    _behave("probe_chaos", event)


@functions_framework.cloud_event
def probe_gcs(event: CloudEvent) -> None:
    _behave("probe_gcs", event)


def probe_noop(event: CloudEvent) -> None:
    """Does nothing: measures the bridge and host, not the function."""


def probe_http(request: flask.Request) -> dict[str, Any]:
    return {
        "path": request.path,
        "method": request.method,
        "body": base64.b64encode(request.get_data()).decode(),
        "pid": os.getpid(),
    }
