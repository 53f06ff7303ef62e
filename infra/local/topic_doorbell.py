"""One subscription per topic that tells the bridge's trigger subscriptions when to pull.

Each trigger keeps its own subscription, filter, retries, dead letters and leases
(subscription_leases.py); the doorbell only says when to look. Its subscription gets a copy
of every message of the topic: the doorbell acknowledges it and rings every trigger
subscription of the topic that may want it (its filter matches), which then pulls at once.
So an idle stack long-polls its 14 topics rather than its 60 trigger subscriptions, a busy
topic is polled fast by one loop rather than by every subscription on it
(subscription_leases.PollPace), and the copies a trigger's filter drops (most of them: the
emulator ignores filters) are not pulled one by one but in batches, when a message it
wants comes or at its safety Pull, and acknowledged in one call per batch.

The doorbell pulls with a lease keeper of its own, which waits for its pending long-poll on
a graceful stop: an abandoned Pull would take the next copy, and the next bridge would hear
of that message only at its trigger subscriptions' safety Pull.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from google.api_core import exceptions as google_exceptions

from infra.local.subscription_leases import Lease, LeaseKeeper

DOORBELL_PREFIX = "bridge-doorbell-"
BATCH = 64  # copies taken per Pull: each is acked at once, so this only sizes the Pull

Wants = Callable[[Mapping[str, str]], bool]  # may a message (its attributes) be for a trigger


def doorbell_subscription(topic: str) -> str:
    return f"{DOORBELL_PREFIX}{topic}"


class TopicDoorbell:
    """Pulls one topic's doorbell subscription and rings its bells."""

    def __init__(self, subscriber: Any, project: str, topic: str) -> None:
        self.topic = topic
        self._subscriber = subscriber
        self._project = project
        self.path = str(subscriber.subscription_path(project, doorbell_subscription(topic)))
        self._bells: list[tuple[threading.Event, Wants]] = []
        self._leases = LeaseKeeper(
            subscriber, self.path, ack_deadline_seconds=10, max_outstanding=BATCH,
            on_message=self._on_copy,
        )  # fmt: skip

    @property
    def running(self) -> bool:
        return self._leases.running

    def bell(self, wants: Wants) -> threading.Event:
        """A bell for one trigger subscription, rung for the messages it `wants`; set at
        first: it pulls what waits already."""
        bell = threading.Event()
        bell.set()
        self._bells.append((bell, wants))
        return bell

    def create(self) -> None:
        """Messages published before this are found by the triggers' first Pull."""
        # Exists already for a restarted bridge: the copies published meanwhile ring at once.
        with contextlib.suppress(google_exceptions.AlreadyExists):
            self._subscriber.create_subscription(
                name=self.path,
                topic=self._subscriber.topic_path(self._project, self.topic),
                ack_deadline_seconds=10,
            )

    def start(self) -> None:
        self._leases.start()

    def stop_pulling(self) -> None:
        self._leases.stop_pulling()

    def finish(self) -> None:
        self._leases.finish()

    def _on_copy(self, lease: Lease) -> bool:
        attributes = lease.message.attributes
        for bell, wants in self._bells:
            if not bell.is_set() and wants(attributes):
                bell.set()
        lease.ack()  # by the pulling thread: all of a Pull's copies in one call
        return True  # the topic is busy: poll it fast for a while
