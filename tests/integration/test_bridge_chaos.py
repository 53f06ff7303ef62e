"""The bridge's chaos really happens, is counted, and is reproducible from its seed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from infra.local.chaos import unit_draw
from tests.conftest import ChaosSwitch, ProbeStack

pytestmark = pytest.mark.emulators

SUBSCRIPTION = "trigger-probe-chaos"


def publish_many(probe_stack: ProbeStack, count: int, case: str) -> list[str]:
    publisher, _, _ = probe_stack.clients()
    topic = publisher.topic_path(probe_stack.project_id, "probe-chaos-in")
    futures = [publisher.publish(topic, b"{}", case=case, seq=str(i)) for i in range(count)]
    return [str(f.result(timeout=10)) for f in futures]


def seq_of(record: dict[str, Any]) -> int:
    return int(record["data"]["message"]["attributes"]["seq"])


def test_duplicates_are_injected_as_the_seed_decides(
    probe_stack: ProbeStack, chaos: ChaosSwitch
) -> None:
    seed, rate = 11, 0.5
    chaos.set(probe_stack.stack, duplicate_rate=rate, seed=seed, subscriptions=[SUBSCRIPTION])
    before = probe_stack.stats(SUBSCRIPTION)["duplicates_injected"]
    case = uuid.uuid4().hex
    ids = publish_many(probe_stack, 12, case)
    expected = {i for i in ids if unit_draw(seed, SUBSCRIPTION, i, "duplicate") < rate}
    assert 0 < len(expected) < len(ids)  # the seed gives a real mix for this test

    records = probe_stack.wait_for("probe_chaos", case, len(ids) + len(expected))
    seen: dict[str, int] = {}
    for record in records:
        seen[record["attributes"]["id"]] = seen.get(record["attributes"]["id"], 0) + 1
    assert {i for i, n in seen.items() if n == 2} == expected
    assert set(seen) == set(ids) and max(seen.values()) == 2
    assert probe_stack.stats(SUBSCRIPTION)["duplicates_injected"] == before + len(expected)


def test_reordering_shuffles_windows_and_counts_it(
    probe_stack: ProbeStack, chaos: ChaosSwitch
) -> None:
    chaos.set(
        probe_stack.stack,
        reorder_window=10,
        reorder_max_wait_seconds=2.0,
        seed=3,
        subscriptions=[SUBSCRIPTION],
    )
    before = probe_stack.stats(SUBSCRIPTION)
    case = uuid.uuid4().hex
    publish_many(probe_stack, 10, case)

    records = probe_stack.wait_for("probe_chaos", case, 10)
    order = [seq_of(r) for r in sorted(records, key=lambda r: r["received_at"])]
    assert sorted(order) == list(range(10))
    assert order != list(range(10))
    after = probe_stack.stats(SUBSCRIPTION)
    assert after["reorder_windows"] > before["reorder_windows"]
    assert after["reordered"] > before["reordered"]


def test_delay_holds_each_delivery_back_by_its_seeded_amount(
    probe_stack: ProbeStack, chaos: ChaosSwitch
) -> None:
    seed, most = 5, 0.6
    chaos.set(probe_stack.stack, delay_max_seconds=most, seed=seed, subscriptions=[SUBSCRIPTION])
    case = uuid.uuid4().hex
    ids = publish_many(probe_stack, 6, case)

    records = probe_stack.wait_for("probe_chaos", case, 6)
    assert len(records) == 6
    for record in records:
        message = record["data"]["message"]
        published = datetime.fromisoformat(message["publishTime"].replace("Z", "+00:00"))
        waited = record["received_at"] - published.timestamp()
        planned = most * unit_draw(seed, SUBSCRIPTION, message["messageId"], "delay")
        # The emulator's publish time has millisecond precision: allow a little slack.
        assert waited >= planned - 0.01, (waited, planned)
    assert {r["attributes"]["id"] for r in records} == set(ids)


def test_chaos_scoped_to_one_subscription_leaves_others_alone(
    probe_stack: ProbeStack, chaos: ChaosSwitch
) -> None:
    chaos.set(probe_stack.stack, duplicate_rate=1.0, subscriptions=[SUBSCRIPTION])
    publisher, _, _ = probe_stack.clients()
    case = uuid.uuid4().hex
    topic = publisher.topic_path(probe_stack.project_id, "probe-in")
    publisher.publish(topic, b"{}", case=case).result(timeout=10)
    assert len(probe_stack.wait_for("probe_record", case, 1)) == 1
    assert len(probe_stack.wait_for("probe_record", case, 2, timeout=0.5)) == 1
