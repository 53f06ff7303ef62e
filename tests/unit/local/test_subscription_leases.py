"""The bridge's pull loops: a trigger pulls when its doorbell rings; a loop on its own
polls fast while messages flow and long-polls when idle; dropped messages cost one call."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core.exceptions import ServiceUnavailable

from infra.local import subscription_leases
from infra.local.subscription_leases import Lease, LeaseKeeper
from infra.local.topic_doorbell import TopicDoorbell

LONG_POLL = 0.3  # how long the fake emulator holds a Pull that finds nothing


class FakeSubscriber:
    """Answers Pulls from a queue of messages, and records every call."""

    def __init__(self) -> None:
        self.queue: list[Any] = []
        self.pulls: list[bool] = []  # return_immediately of each Pull
        self.acks: list[list[str]] = []
        self.ack_threads: list[str] = []
        self._lock = threading.Lock()
        self._next = 0

    def publish(self, count: int, **attributes: str) -> None:
        with self._lock:
            for _ in range(count):
                self._next += 1
                message = SimpleNamespace(
                    message_id=str(self._next),
                    data=b"{}",
                    attributes=attributes,
                    publish_time=datetime.now(UTC),
                    ordering_key="",
                )
                self.queue.append(SimpleNamespace(ack_id=f"ack-{self._next}", message=message))

    def pull(
        self, *, subscription: str, max_messages: int, return_immediately: bool, timeout: float
    ) -> Any:
        with self._lock:
            self.pulls.append(return_immediately)
            taken, self.queue = self.queue[:max_messages], self.queue[max_messages:]
        if not taken and not return_immediately:
            time.sleep(LONG_POLL)
        return SimpleNamespace(received_messages=taken)

    def acknowledge(self, *, subscription: str, ack_ids: list[str]) -> None:
        self.acks.append(list(ack_ids))
        self.ack_threads.append(threading.current_thread().name)

    def modify_ack_deadline(self, **_: Any) -> None:
        pass

    def subscription_path(self, project: str, name: str) -> str:
        return f"projects/{project}/subscriptions/{name}"

    def topic_path(self, project: str, name: str) -> str:
        return f"projects/{project}/topics/{name}"

    def create_subscription(self, **_: Any) -> None:
        pass


def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return condition()


def keeper(
    subscriber: FakeSubscriber, wanted: str, bell: threading.Event | None = None
) -> LeaseKeeper:
    def on_message(lease: Lease) -> bool:
        if lease.message.attributes.get("kind") != wanted:
            lease.ack()  # the trigger's filter drops it
            return False
        threading.Timer(0.001, lease.ack).start()  # delivered elsewhere, acked later
        return True

    return LeaseKeeper(subscriber, "sub", 10, max_outstanding=32, on_message=on_message, bell=bell)


def test_messages_the_trigger_drops_are_acked_in_one_call_and_keep_it_long_polling() -> None:
    subscriber = FakeSubscriber()
    leases = keeper(subscriber, wanted="nothing")
    leases.start()
    try:
        time.sleep(0.1)
        before = len(subscriber.pulls)
        subscriber.publish(5, kind="other")
        time.sleep(0.7)
        pulls = subscriber.pulls[before:]
    finally:
        leases.stop()

    assert [sorted(batch) for batch in subscriber.acks] == [[f"ack-{i}" for i in range(1, 6)]]
    assert subscriber.ack_threads == ["pull-sub"]  # no other thread woken for them
    # Dropped messages do not make the subscription busy: no immediate Pulls at all
    # (it was one every 3 ms for a second after any message).
    assert not any(pulls)


def test_a_delivery_polls_fast_then_backs_off_to_long_polling() -> None:
    subscriber = FakeSubscriber()
    leases = keeper(subscriber, wanted="wanted")
    leases.start()
    try:
        time.sleep(0.1)
        before = len(subscriber.pulls)
        subscriber.publish(1, kind="wanted")
        assert eventually(lambda: subscriber.queue == [], timeout=1.0)
        time.sleep(0.06)
        # After 60 ms of quiet the loop still polls, every ~6 ms: no long-poll.
        subscriber.publish(1, kind="wanted")
        assert eventually(lambda: subscriber.queue == [], timeout=0.2)
        time.sleep(1.2)
        pulls = subscriber.pulls[before:]
    finally:
        leases.stop()

    immediate = sum(pulls)
    # Polling after a delivery, waits growing with the quiet: a few dozen Pulls, not the
    # ~300 of a flat second of Pulls 3 ms apart.
    assert 5 <= immediate <= 80
    busy = pulls[pulls.index(True) :]
    assert False in busy  # long-polling again once quiet
    assert True not in busy[busy.index(False) :]  # and staying there


def test_a_trigger_with_a_bell_pulls_only_when_rung() -> None:
    subscriber = FakeSubscriber()
    subscriber.publish(2, kind="wanted")  # waiting before the bridge starts
    bell = threading.Event()
    bell.set()  # as a doorbell hands it out: the first Pull finds what waits
    leases = keeper(subscriber, wanted="wanted", bell=bell)
    leases.start()
    try:
        assert eventually(lambda: subscriber.queue == [])
        time.sleep(0.3)
        idle_pulls = len(subscriber.pulls)
        time.sleep(0.3)
        assert len(subscriber.pulls) == idle_pulls  # idle: no Pull at all

        subscriber.publish(1, kind="wanted")
        time.sleep(0.1)
        assert subscriber.queue  # not announced: not pulled (until the safety Pull)
        bell.set()
        assert eventually(lambda: subscriber.queue == [], timeout=0.5)
    finally:
        leases.stop()
    assert all(subscriber.pulls)  # only immediate Pulls: none left pending at a stop


def test_a_full_batch_is_followed_by_another_pull_without_a_ring() -> None:
    subscriber = FakeSubscriber()
    subscriber.publish(100, kind="wanted")  # more than max_outstanding (32)
    bell = threading.Event()
    bell.set()
    leases = keeper(subscriber, wanted="wanted", bell=bell)
    leases.start()
    try:
        assert eventually(lambda: subscriber.queue == [])
    finally:
        leases.stop()


def test_a_trigger_with_a_bell_still_looks_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    # For what no doorbell announces: a message whose lease a crashed bridge let expire.
    monkeypatch.setattr(subscription_leases, "SAFETY_PULL_SECONDS", 0.1)
    subscriber = FakeSubscriber()
    leases = keeper(subscriber, wanted="wanted", bell=threading.Event())
    leases.start()
    try:
        subscriber.publish(1, kind="wanted")
        assert eventually(lambda: subscriber.queue == [], timeout=1.0)
    finally:
        leases.stop()


def test_a_doorbell_rings_the_triggers_that_may_want_a_message_and_acks_copies_at_once() -> None:
    subscriber = FakeSubscriber()
    doorbell = TopicDoorbell(subscriber, "proj", "orders")
    everything = doorbell.bell(lambda attributes: True)
    wanted_only = doorbell.bell(lambda attributes: attributes.get("kind") == "wanted")
    assert everything.is_set() and wanted_only.is_set()  # the first Pull finds the backlog
    everything.clear()
    wanted_only.clear()
    doorbell.create()
    doorbell.start()
    try:
        time.sleep(0.1)
        assert not everything.is_set()
        subscriber.publish(3, kind="other")
        assert eventually(everything.is_set)
        assert eventually(
            lambda: sorted(itertools.chain(*subscriber.acks)) == ["ack-1", "ack-2", "ack-3"]
        )
        assert subscriber.ack_threads == ["pull-projects/proj/subscriptions/bridge-doorbell-orders"]
        # Filtered out: left in its subscription, to be acked in a batch later.
        assert not wanted_only.is_set()

        subscriber.publish(1, kind="wanted")
        assert eventually(wanted_only.is_set)
    finally:
        doorbell.stop_pulling()
        doorbell.finish()


def test_copies_a_trigger_drops_wait_for_a_message_it_wants_and_go_in_one_ack() -> None:
    trigger, copies = FakeSubscriber(), FakeSubscriber()
    doorbell = TopicDoorbell(copies, "proj", "orders")
    leases = keeper(trigger, wanted="wanted", bell=doorbell.bell(lambda a: a["kind"] == "wanted"))
    doorbell.start()
    leases.start()
    try:
        time.sleep(0.1)
        pulls = len(trigger.pulls)
        for kind in ("other", "other", "other", "wanted"):
            trigger.publish(1, kind=kind)
            copies.publish(1, kind=kind)
            time.sleep(0.05)
        assert eventually(lambda: trigger.queue == [])
    finally:
        leases.stop()
        doorbell.stop_pulling()
        doorbell.finish()
    assert len(trigger.pulls) - pulls <= 2  # one ring, not four (plus a look that found none)
    assert [sorted(batch) for batch in trigger.acks[:1]] == [["ack-1", "ack-2", "ack-3"]]


def test_a_trigger_waiting_for_its_bell_stops_at_once() -> None:
    subscriber = FakeSubscriber()
    leases = keeper(subscriber, wanted="wanted", bell=threading.Event())
    leases.start()
    time.sleep(0.05)
    pulls = len(subscriber.pulls)
    started = time.monotonic()
    leases.stop()
    assert time.monotonic() - started < 0.5
    assert len(subscriber.pulls) == pulls  # no Pull on the way out
    assert not leases.running


def test_a_rung_pull_that_fails_is_tried_again() -> None:
    class Flaky(FakeSubscriber):
        failures = 1

        def pull(self, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise ServiceUnavailable("emulator busy")  # type: ignore[no-untyped-call]
            return super().pull(**kwargs)

    subscriber = Flaky()
    subscriber.publish(1, kind="wanted")
    bell = threading.Event()
    bell.set()
    leases = keeper(subscriber, wanted="wanted", bell=bell)
    leases.start()
    try:  # not left until the safety Pull, 5 s later
        assert eventually(lambda: subscriber.queue == [], timeout=1.0)
    finally:
        leases.stop()
