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

from infra.local.processes import group_members
from infra.local.stack import LocalStack
from infra.local.subscription_leases import HOT_POLL_SECONDS, HOT_SECONDS

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

    Immediate pulls a few milliseconds apart while messages flow, a long-poll when idle: the
    emulator answers a streaming pull or a long-poll only every ~50 ms, which would be the
    observer's cost. (The bridge itself now pulls a trigger only when its topic's doorbell
    rings: infra/local/topic_doorbell.py; an observer has no doorbell to wait for.)
    """

    def __init__(
        self, project: str, topic: str, key: Callable[[Any], str], pullers: int = 2
    ) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(project, f"bench-{uuid.uuid4().hex[:8]}")
        self.subscriber.create_subscription(
            name=self.path, topic=f"projects/{project}/topics/{topic}"
        )
        self.seen: dict[str, float] = {}
        self.changed = threading.Condition()
        self._key = key
        self._stop = threading.Event()
        # Eager: poll while messages flow, for latency one message at a time. Not eager:
        # long-poll, so that in a burst the observer does not cost the emulator CPU.
        self.eager = True
        self._threads = [threading.Thread(target=self._pull, daemon=True) for _ in range(pullers)]
        for thread in self._threads:
            thread.start()

    def _pull(self) -> None:
        last_message = -HOT_SECONDS
        while not self._stop.is_set():
            hot = self.eager and time.monotonic() - last_message < HOT_SECONDS
            try:
                response = self.subscriber.pull(
                    subscription=self.path, max_messages=500, return_immediately=hot, timeout=2
                )
            except Exception:  # a pull that times out empty is normal here
                continue
            now = time.perf_counter()
            if not response.received_messages:
                if hot:
                    time.sleep(HOT_POLL_SECONDS)
                continue
            last_message = time.monotonic()
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


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU time used so far by each part of the stack (every process of its group) and
    by this process (the uploads and the observer)."""
    used = {"benchmark client": sum(os.times()[:2])}
    for part, process in stack.processes.items():
        total = 0
        for pid in group_members(process.pgid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        used[part] = total / _TICK
    return used


def cpu_per_message(
    before: dict[str, float], after: dict[str, float], count: int
) -> dict[str, float]:
    """Milliseconds of CPU per message, by part, between two cpu_seconds() readings."""
    return {part: (after[part] - before[part]) * 1000 / count for part in after}


def bench_expert(code: str, username: str, email: str) -> dict[str, Any]:
    """A RegisterExpert body for a benchmark: every sample speciality at the largest
    capacity, so that no saga of a run lacks an expert (the samples' few places would leave
    the later ones compensated) and assignments spread over several experts."""
    from infra.samples.experts import SAMPLE_EXPERTS

    return {
        **SAMPLE_EXPERTS[0],
        "expert_code": code,
        "username": username,
        "email": email,
        "specialities": sorted({s for e in SAMPLE_EXPERTS for s in e["specialities"]}),
        "capacity": 100,
    }
