"""Window counters in process memory: unit tests, where there is one instance."""

from __future__ import annotations

import threading
from datetime import datetime


class InMemoryWindowCounters:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def increment(self, counter_id: str, expires_at: datetime) -> int:
        with self._lock:
            self._counts[counter_id] = self._counts.get(counter_id, 0) + 1
            return self._counts[counter_id]
