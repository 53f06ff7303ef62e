"""Pulling a trigger subscription with unary Pull, and holding each message's lease until told.

Why not the client library's streaming pull: the Pub/Sub emulator never notices that a
streaming-pull client went away (killed, or restarted with `saludtech-local restart
bridge`). It keeps assigning a share of the messages to the dead stream, where they sit
until their ack deadline expires, over and over: after a bridge restart, half the messages
arrived a minute or more late. Unary Pull has no server-side stream: a message is leased only
when a Pull returns it.

When to pull: every Pull costs the emulator about a millisecond of CPU, and a long-poll
(long-polling every subscription, or polling fast while busy) multiplied by the 56 trigger
subscriptions made the stack burn a fifth of a core idle and most of its Pulls in a burst
empty. So a trigger subscription is pulled only when its topic's doorbell rings
(topic_doorbell.py: one Pull per topic says a message arrived), with immediate Pulls, again
while a Pull comes back full, and otherwise now and then (SAFETY_PULL_SECONDS) for what no
doorbell announces (a message whose lease a crashed bridge left to expire). Immediate
Pulls also mean no Pull is ever left pending when the bridge stops: the emulator does not
notice a cancelled Pull, which would take the next messages to a client that has gone.

PollPace is how a long-polling loop (the doorbell, the benchmark's observer) paces itself:
the emulator's long-poll only looks for new messages about every 50 ms (measured: a Pull
waiting when a message is published returns it after 55 ms p50, an immediate Pull after
9 ms), so while messages flow it polls with immediate Pulls, each wait a tenth of the time
since the last message (3 ms at first): the next message waits at most ~10% of the gap
since the previous one. Once that wait would reach the long-poll's own 50 ms it long-polls
again: fast when it matters, nothing spent when idle.

The lease keeper extends the deadline of every message still being delivered and sends
acknowledgements in batches; a message the trigger drops (its filter) is acknowledged by
the pulling thread itself, in one call per Pull.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as google_exceptions

from infra.local.eventarc_envelope import PulledMessage

log = logging.getLogger("bridge")

# A long-poll's wait. Short, because a graceful stop waits for the pending long-polls (the
# doorbells'); idle, this is one call every 2 s per topic.
PULL_WAIT_SECONDS = 2.0
IMMEDIATE_PULL_SECONDS = 5.0  # the deadline of an immediate Pull
# Unannounced messages (an expired lease) are found within this or half the ack deadline,
# whichever is shorter: Pub/Sub itself redelivers them only after the ack deadline.
SAFETY_PULL_SECONDS = 30.0
# A rung Pull that finds nothing looks once more after this: the doorbell may see a
# message a moment before the trigger subscription does.
RECHECK_SECONDS = 0.005
HOT_SECONDS = 1.0  # the benchmark's observer polls this long after a message
HOT_POLL_SECONDS = 0.003  # the shortest wait between immediate Pulls
HOT_BACKOFF = 0.1  # busy: wait this share of the time since the last message between Pulls
LONG_POLL_SECONDS = 0.05  # the emulator's long-poll granularity: polling slower gains nothing
ACK_FLUSH_SECONDS = 0.01
RETRYABLE = (
    google_exceptions.DeadlineExceeded,
    google_exceptions.ServiceUnavailable,
    google_exceptions.InternalServerError,
    google_exceptions.Aborted,
    google_exceptions.Unknown,
)


class PollPace:
    """When a long-polling loop pulls next: at once while messages flow, backing off with
    the quiet, then long-polling (see the module's docstring)."""

    def __init__(self) -> None:
        self._last_message = -HOT_SECONDS

    def saw_messages(self) -> None:
        self._last_message = time.monotonic()

    def pause(self) -> float | None:
        """The wait before the next immediate Pull, or None: long-poll."""
        pause = max(HOT_POLL_SECONDS, (time.monotonic() - self._last_message) * HOT_BACKOFF)
        return pause if pause < LONG_POLL_SECONDS else None


class Lease:
    """One pulled message, leased until ack() is called."""

    def __init__(self, keeper: LeaseKeeper, ack_id: str, message: PulledMessage) -> None:
        self._keeper = keeper
        self.ack_id = ack_id
        self.message = message
        self._done = False

    def ack(self) -> None:
        if not self._done:
            self._done = True
            self._keeper.ack(self.ack_id)


def pulled_message(received: Any) -> PulledMessage:
    message = received.message
    return PulledMessage(
        message_id=str(message.message_id),
        data=bytes(message.data),
        attributes=dict(message.attributes),
        publish_time=message.publish_time,
        ordering_key=str(message.ordering_key or ""),
    )


class LeaseKeeper:
    """Pulls up to `max_outstanding` messages at a time and keeps them leased until acked.

    With a `bell` it pulls when the bell is set (by the topic's doorbell; set at first, for
    what waits already); without one it paces itself with PollPace, long-polling when idle.
    """

    def __init__(  # noqa: PLR0917 (keyword use would only add noise at the call sites)
        self,
        subscriber: Any,
        subscription_path: str,
        ack_deadline_seconds: int,
        max_outstanding: int,
        on_message: Callable[[Lease], bool | None],
        bell: threading.Event | None = None,
    ) -> None:
        self._subscriber = subscriber
        self._path = subscription_path
        self._deadline = ack_deadline_seconds
        self._max_outstanding = max_outstanding
        # False: the message was dropped (it does not make the subscription busy).
        self._on_message = on_message
        self._acked_by_puller = False
        self._bell = bell
        self._capacity = threading.Semaphore(max_outstanding)
        self._leased: set[str] = set()
        self._pending_acks: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Daemon threads: a Pull blocked in its long poll must not delay the bridge's exit.
        self._puller = threading.Thread(
            target=self._pull_loop, name=f"pull-{subscription_path}", daemon=True
        )
        self._keeper = threading.Thread(
            target=self._keep_loop, name=f"lease-{subscription_path}", daemon=True
        )

    @property
    def running(self) -> bool:
        return self._puller.is_alive() and self._keeper.is_alive()

    def start(self) -> None:
        self._puller.start()
        self._keeper.start()

    def stop(self) -> None:
        """Stop pulling, send pending acks, and hand back what was not finished."""
        self.stop_pulling()
        self.finish()

    def stop_pulling(self) -> None:
        """Take no new messages; acks of the ones in flight are still accepted."""
        self._stopping.set()
        self._wake.set()
        if self._bell is not None:
            self._bell.set()

    def finish(self) -> None:
        """After stop_pulling: wait for the pending Pull, flush acks, release the rest."""
        self._puller.join(timeout=PULL_WAIT_SECONDS + 1)
        self._keeper.join(timeout=1)
        self._flush_acks()
        with self._lock:
            unfinished, self._leased = list(self._leased), set()
        self._release(unfinished)

    def ack(self, ack_id: str) -> None:
        with self._lock:
            self._leased.discard(ack_id)
            self._pending_acks.append(ack_id)
        self._capacity.release()
        if threading.current_thread() is self._puller:
            self._acked_by_puller = True  # it sends them after its batch, in one call
        else:
            self._wake.set()

    # -- pulling ---------------------------------------------------------------------------

    def _take_capacity(self) -> int:
        """Block for one free slot, then take every other free one (the batch size)."""
        while not self._capacity.acquire(timeout=0.5):
            if self._stopping.is_set():
                return 0
        taken = 1
        while taken < self._max_outstanding and self._capacity.acquire(blocking=False):
            taken += 1
        return taken

    def _pull_loop(self) -> None:
        pace = PollPace()
        more_waiting = False
        while not self._stopping.is_set():
            rung = False
            if self._bell is not None:
                if not more_waiting:
                    rung = self._bell.wait(min(SAFETY_PULL_SECONDS, self._deadline / 2))
                self._bell.clear()  # before the Pull: a ring during it is not lost
                if self._stopping.is_set():
                    return
            wanted = self._take_capacity()
            if wanted == 0:
                return
            # Rung: one immediate Pull. On its own: paced, long-polling when idle.
            pause = 0.0 if self._bell is not None else pace.pause()
            received = self._pull(wanted, immediate=pause is not None)
            if rung and not received and not self._stopping.wait(RECHECK_SECONDS):
                received = self._pull(wanted, immediate=True)
            for _ in range(wanted - len(received)):
                self._capacity.release()
            if self._stopping.is_set():
                self._release([r.ack_id for r in received])
                return
            # A full batch leaves more behind it (a backlog): pull again once there is room.
            more_waiting = len(received) == wanted
            if self._hand_over(received):
                pace.saw_messages()
            elif pause and not received:
                self._stopping.wait(pause)

    def _pull(self, wanted: int, *, immediate: bool) -> list[Any]:
        try:
            response = self._subscriber.pull(
                subscription=self._path,
                max_messages=wanted,
                return_immediately=immediate,
                timeout=IMMEDIATE_PULL_SECONDS if immediate else PULL_WAIT_SECONDS,
            )
            return list(response.received_messages)
        except RETRYABLE:
            if immediate:  # not a long-poll's usual end: the emulator is busy or restarting
                self._try_again_in(0.1)
            return []
        except Exception:
            log.exception("pulling %s failed; retrying in 1 s", self._path)
            self._try_again_in(1.0)
            return []

    def _try_again_in(self, seconds: float) -> None:
        self._stopping.wait(seconds)
        if self._bell is not None:
            self._bell.set()  # the ring this Pull answered still stands

    def _hand_over(self, received: list[Any]) -> bool:
        """Whether any message went on (was not dropped by on_message)."""
        with self._lock:
            self._leased.update(r.ack_id for r in received)
        busy = False
        for item in received:
            busy |= self._on_message(Lease(self, item.ack_id, pulled_message(item))) is not False
        if self._acked_by_puller:
            self._acked_by_puller = False
            self._flush_acks()
        return busy

    # -- keeping leases and acknowledging -----------------------------------------------------

    def _keep_loop(self) -> None:
        # Extend well before expiry: a third of the deadline leaves two chances to succeed.
        extend_every = max(1.0, self._deadline / 3)
        next_extension = time.monotonic() + extend_every
        while not self._stopping.is_set():
            self._wake.wait(ACK_FLUSH_SECONDS if self._pending_acks else extend_every / 2)
            self._wake.clear()
            self._flush_acks()
            if time.monotonic() >= next_extension:
                self._extend_leases()
                next_extension = time.monotonic() + extend_every

    def _flush_acks(self) -> None:
        with self._lock:
            batch, self._pending_acks = self._pending_acks, []
        if not batch:
            return
        try:
            self._subscriber.acknowledge(subscription=self._path, ack_ids=batch)
        except Exception:
            # A lost ack means a redelivery, which every handler must tolerate anyway.
            log.exception("acknowledging %d messages on %s failed", len(batch), self._path)

    def _release(self, ack_ids: list[str]) -> None:
        """A zero deadline makes Pub/Sub redeliver these at once (to the next bridge)."""
        if not ack_ids:
            return
        try:
            self._subscriber.modify_ack_deadline(
                subscription=self._path, ack_ids=ack_ids, ack_deadline_seconds=0
            )
        except Exception:
            log.exception("releasing %d messages on %s failed", len(ack_ids), self._path)

    def _extend_leases(self) -> None:
        with self._lock:
            leased = list(self._leased)
        if not leased:
            return
        try:
            self._subscriber.modify_ack_deadline(
                subscription=self._path, ack_ids=leased, ack_deadline_seconds=self._deadline
            )
        except Exception:
            log.exception("extending %d leases on %s failed", len(leased), self._path)
