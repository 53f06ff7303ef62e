"""What the running gateway is doing, for `saludtech-gateway status` and monitoring.

The gateway rewrites <spool>/status.json about once a second (atomically: temp + rename),
so `status` needs no port and works when the gateway is down (then it says so, and counts
the spool itself). Every value is a count, a time or a reason code: no PHI, no UIDs, no
file names from the PACS.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STALE_SECONDS = 10.0  # a status file older than this belongs to a gateway that stopped


@dataclass
class Counters:
    received: int = 0  # instances acknowledged (on disk)
    store_failed: int = 0  # C-STOREs answered with a failure status
    associations_rejected: int = 0
    sent_instances: int = 0
    sent_batches: int = 0
    failed_attempts: int = 0  # uploads that failed and are retried
    last_error: str | None = None  # a reason code (reasons in uploader.py and scp.py)
    last_error_at: float | None = None
    last_sent_at: float | None = None


@dataclass
class Stats:
    """Counters shared by the SCP's threads and the uploader."""

    counters: Counters = field(default_factory=Counters)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self.counters, name, getattr(self.counters, name) + value)

    def error(self, reason: str) -> None:
        with self._lock:
            self.counters.last_error, self.counters.last_error_at = reason, time.time()

    def sent(self, instances: int) -> None:
        with self._lock:
            self.counters.sent_instances += instances
            self.counters.sent_batches += 1
            self.counters.last_sent_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self.counters)


def write(path: Path, values: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(values, sort_keys=True))
    os.replace(temporary, path)  # a reader sees the old file or the new one, never half


def read(path: Path) -> dict[str, Any] | None:
    try:
        values: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return values


def is_running(values: dict[str, Any] | None, now: float) -> bool:
    if not values or values.get("state") != "running":
        return False
    if now - float(values.get("updated_at", 0)) > STALE_SECONDS:
        return False
    pid = int(values.get("pid", 0))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def render(values: dict[str, Any] | None, queue: tuple[int, int], now: float) -> str:
    """The human view: whether it runs, the queue (counted from the spool), the counters."""
    running = is_running(values, now)
    lines = [f"gateway:          {'running' if running else 'not running'}"]
    lines.append(f"queue:            {queue[0]} instances, {queue[1] / 1e6:.1f} MB")
    if values:

        def when(key: str) -> str:
            at = values.get(key)
            return "-" if at is None else f"{now - float(at):.0f} s ago"

        lines += [
            f"received:         {values.get('received', 0)}",
            f"sent:             {values.get('sent_instances', 0)} instances "
            f"in {values.get('sent_batches', 0)} uploads (last {when('last_sent_at')})",
            f"failed attempts:  {values.get('failed_attempts', 0)} (retried)",
            f"store failures:   {values.get('store_failed', 0)}",
            f"rejected assocs:  {values.get('associations_rejected', 0)}",
            f"last error:       {values.get('last_error') or '-'} ({when('last_error_at')})",
        ]
    return "\n".join(lines)
