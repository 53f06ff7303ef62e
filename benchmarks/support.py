"""What the benchmarks share: a throwaway local stack, arrival timing, percentiles."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from infra.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
PROBE_SOURCE = ROOT / "tests/support/probe_functions.py"
PROBE_TOPOLOGY = ROOT / "tests/support/probe_topology.yaml"


@contextlib.contextmanager
def bench_stack(*, probes: bool = False, **options: Any) -> Iterator[LocalStack]:
    """A stack on free ports with its own project and state, its env exported to this
    process (the Google clients read it when built). `probes`: serve the no-op probe
    functions instead of the product, to measure the raw delivery rate."""
    if probes:
        options = {"source": PROBE_SOURCE, "topology": PROBE_TOPOLOGY, **options}
    with tempfile.TemporaryDirectory() as state:
        if probes:
            options.setdefault("extra_env", {"SALUDTECH_PROBE_DIR": state})
        with LocalStack(
            ports="free", project_id=f"bench-{uuid.uuid4().hex[:6]}", state_dir=Path(state),
            **options,
        ) as stack:  # fmt: skip
            os.environ.update(stack.env)
            yield stack


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Arrivals:
    """Records when each message (by a key) arrives on a topic.

    Synchronous pulls in a few threads, not the streaming pull: against the emulator a
    streaming pull adds ~50 ms per message, which would be the observer's cost, not ours.
    """

    def __init__(self, project: str, topic: str, key: Callable[[Any], str], pullers: int = 3) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(project, f"bench-{uuid.uuid4().hex[:8]}")
        self.subscriber.create_subscription(name=self.path, topic=f"projects/{project}/topics/{topic}")
        self.seen: dict[str, float] = {}
        self.changed = threading.Condition()
        self._key = key
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._pull, daemon=True) for _ in range(pullers)]
        for thread in self._threads:
            thread.start()

    def _pull(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.subscriber.pull(subscription=self.path, max_messages=100, timeout=2)
            except Exception:  # a pull that times out empty is normal here
                continue
            now = time.perf_counter()
            if not response.received_messages:
                continue
            self.subscriber.acknowledge(
                subscription=self.path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            with self.changed:
                for received in response.received_messages:
                    self.seen.setdefault(self._key(received.message), now)
                self.changed.notify_all()

    def wait(self, keys: set[str], timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not keys <= self.seen.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.subscriber.delete_subscription(subscription=self.path)


