"""Per-subscription delivery counters and publish-to-2xx latency of the local bridge."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

LATENCY_SAMPLES = 10_000


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class SubscriptionStats:
    received: int = 0  # messages pulled from the subscription (redeliveries included)
    filtered: int = 0  # acked without delivery: filter or bucket/event mismatch
    delivered: int = 0  # HTTP POSTs made to the function (attempts, duplicates included)
    acked: int = 0  # messages acknowledged after a 2xx
    retried: int = 0  # failed attempts that were retried after a backoff
    dead_lettered: int = 0
    dropped: int = 0  # exhausted attempts without a dead-letter topic
    duplicates_injected: int = 0
    reorder_windows: int = 0
    reordered: int = 0  # messages that left a window in another position than they came
    in_flight: int = 0
    _latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def record_latency(self, milliseconds: float) -> None:
        with self._lock:
            self._latencies_ms.append(milliseconds)

    def reset(self) -> None:
        with self._lock:
            in_flight = self.in_flight
            for name in self.counter_names():
                setattr(self, name, 0)
            self.in_flight = in_flight  # a gauge, not a counter
            self._latencies_ms.clear()

    @staticmethod
    def counter_names() -> list[str]:
        return [
            "received", "filtered", "delivered", "acked", "retried", "dead_lettered",
            "dropped", "duplicates_injected", "reorder_windows", "reordered", "in_flight",
        ]  # fmt: skip

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            values: dict[str, object] = {name: getattr(self, name) for name in self.counter_names()}
            latencies = sorted(self._latencies_ms)
        values["latency_ms"] = {
            "count": len(latencies),
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "max": latencies[-1] if latencies else None,
        }
        return values
