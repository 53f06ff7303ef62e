"""A bridge that dies mid-delivery loses nothing: the unacked message comes back."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from infra.local.processes import group_members
from tests.conftest import ProbeStack

pytestmark = pytest.mark.emulators

SUBSCRIPTION = "trigger-probe-slow"


def test_message_in_flight_when_the_bridge_crashes_is_redelivered(
    probe_stack: ProbeStack,
) -> None:
    stack = probe_stack.stack
    publisher, _, _ = probe_stack.clients()
    case = uuid.uuid4().hex
    topic = publisher.topic_path(stack.project_id, "probe-slow-in")
    # The probe holds the request 1.5 s: long enough to kill the bridge while it waits.
    message_id = publisher.publish(topic, b"{}", case=case, probe_behaviour="sleep-1500")
    message_id = message_id.result(timeout=10)
    # Killed once the request is at the probe: the bridge counts a delivery in flight a
    # moment before its POST leaves, and a crash in that moment is a different case (the
    # first attempt never arrives).
    assert probe_stack.wait_for("probe_slow.started", case, 1, timeout=10)

    bridge = stack.processes["bridge"]
    os.killpg(bridge.pgid, signal.SIGKILL)  # a crash: no chance to acknowledge anything
    while group_members(bridge.pgid):
        time.sleep(0.02)
    stack.restart("bridge")

    # The first attempt completes at the probe, but its 200 reaches no one; after the
    # ack deadline (10 s) Pub/Sub hands the message to the new bridge.
    records = probe_stack.wait_for("probe_slow", case, 2, timeout=30)
    assert [r["attributes"]["id"] for r in records] == [message_id, message_id]
    assert probe_stack.stats(SUBSCRIPTION)["acked"] == 1


def test_messages_published_right_after_a_bridge_restart_arrive_promptly(
    probe_stack: ProbeStack,
) -> None:
    # The emulator hands messages to Pulls whose client has gone: a restart that left any
    # behind would hold these messages back for a whole ack deadline (60 s here).
    stack = probe_stack.stack
    stack.restart("bridge")
    publisher, _, _ = probe_stack.clients()
    case = uuid.uuid4().hex
    topic = publisher.topic_path(stack.project_id, "probe-in")
    for future in [publisher.publish(topic, b"{}", case=case, n=str(n)) for n in range(20)]:
        future.result(timeout=10)
    assert len(probe_stack.wait_for("probe_record", case, 20, timeout=8)) == 20
