"""The bridge's pull loop: fast while a trigger delivers, nothing spent on what it drops."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from infra.local.subscription_leases import Lease, LeaseKeeper

LONG_POLL = 0.05  # how long the fake emulator holds a Pull that finds nothing


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

    def pull(self, *, subscription: str, max_messages: int, return_immediately: bool, timeout: float) -> Any:
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


def keeper(subscriber: FakeSubscriber, wanted: str) -> LeaseKeeper:
    def on_message(lease: Lease) -> bool:
        if lease.message.attributes.get("kind") != wanted:
            lease.ack()  # the trigger's filter drops it
            return False
        threading.Timer(0.001, lease.ack).start()  # delivered elsewhere, acked later
        return True

    return LeaseKeeper(subscriber, "sub", 10, max_outstanding=32, on_message=on_message)




def test_messages_the_trigger_drops_are_acked_in_one_call_and_keep_it_long_polling() -> None:
    subscriber = FakeSubscriber()
    leases = keeper(subscriber, wanted="nothing")
    leases.start()
    try:
        time.sleep(0.1)
        before = len(subscriber.pulls)
        subscriber.publish(5, kind="other")
        time.sleep(0.5)
        pulls = subscriber.pulls[before:]
    finally:
        leases.stop()

    assert [sorted(batch) for batch in subscriber.acks] == [[f"ack-{i}" for i in range(1, 6)]]
    assert subscriber.ack_threads == ["pull-sub"]  # no other thread woken for them
    # Dropped messages do not make the subscription busy: no immediate Pulls at all
    # (it was ~160 over that half second, 3 ms apart).
    assert not any(pulls)


def test_a_delivery_polls_fast_then_backs_off_to_long_polling() -> None:
    subscriber = FakeSubscriber()
    leases = keeper(subscriber, wanted="wanted")
    leases.start()
    try:
        time.sleep(0.1)
        before = len(subscriber.pulls)
        subscriber.publish(1, kind="wanted")
        time.sleep(0.06)
        # After 60 ms of quiet the loop still polls, every ~6 ms: no 50 ms long-poll.
        subscriber.publish(1, kind="wanted")
        time.sleep(0.025)
        assert subscriber.queue == []
        time.sleep(1.0)
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
