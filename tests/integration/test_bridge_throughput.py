"""How fast the bridge delivers to a no-op function: a floor, and the number for the docs."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import ProbeStack

pytestmark = pytest.mark.emulators

MESSAGES = 500


def test_bridge_delivers_a_burst_to_a_noop_function(probe_stack: ProbeStack) -> None:

    subscription = "trigger-probe-noop"
    publisher, _, _ = probe_stack.clients()
    topic = publisher.topic_path(probe_stack.project_id, "probe-bench-in")
    before = probe_stack.stats(subscription)["acked"]
    started = time.monotonic()
    futures = [publisher.publish(topic, b"{}", n=str(n)) for n in range(MESSAGES)]
    for future in futures:
        future.result(timeout=30)
    deadline = started + 60
    while probe_stack.stats(subscription)["acked"] < before + MESSAGES:
        assert time.monotonic() < deadline, probe_stack.stats(subscription)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    stats = requests.get(f"{probe_stack.stack.bridge_url}/stats", timeout=5).json()[subscription]
    print(f"\n{MESSAGES} messages publish->all acked in {elapsed:.2f}s "
          f"= {MESSAGES / elapsed:.0f} msg/s; latency ms {stats['latency_ms']}")  # fmt: skip
    assert MESSAGES / elapsed > 50  # a floor that catches a serialised or stuck bridge
