"""Pulling a subscription with unary Pull, and holding each message's lease until told.

Why not the client library's streaming pull: the Pub/Sub emulator never notices that a
streaming-pull client went away (killed, or restarted with `saludtech-local restart
bridge`). It keeps assigning a share of the messages to the dead stream, where they sit
until their ack deadline expires, over and over: after a bridge restart, half the messages
arrived a minute or more late. Unary Pull has no server-side stream: a message is leased only
when a Pull returns it. The emulator long-polls (it answers as soon as a message arrives, or
empty just before the call's deadline), so an idle pull costs nothing.

It does not notice a cancelled Pull either: a Pull pending when its client exits still
takes the next messages, which then wait for their ack deadline. So a graceful stop lets
the pending Pulls return (at most PULL_WAIT_SECONDS) and hands back, with a zero deadline,
every message it had not finished; only a crash leaves messages to their deadline, as with
real Pub/Sub.

The emulator's long-poll only looks for new messages about every 50 ms (measured: a Pull
waiting when a message is published returns it after 55 ms p50, an immediate Pull after
9 ms). So while a subscription is busy the loop polls with immediate Pulls, and backs off
as it stays idle: each wait is a tenth of the time since the last delivery (3 ms at
first), so the next message waits at most ~10% of the gap since the previous one. Once
that wait would reach the long-poll's own 50 ms, the loop long-polls again: fast when it
matters, nothing spent when idle. Only a delivery makes a subscription busy: messages its
trigger drops (the caller's on_message says so) are acknowledged in the pulling thread,
in one call per Pull, and leave the loop as it was.

The lease keeper extends the deadline of every message still being delivered and sends
acknowledgements in batches.
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

# Short, because a graceful stop waits for the pending Pulls (see above); idle, this is
# one cheap call every 2 s per subscription.
PULL_WAIT_SECONDS = 2.0
HOT_SECONDS = 1.0  # the benchmark's observer polls this long after a message
HOT_POLL_SECONDS = 0.003  # the shortest wait between immediate Pulls
HOT_BACKOFF = 0.1  # busy: wait this share of the time since the last delivery between Pulls
LONG_POLL_SECONDS = 0.05  # the emulator's long-poll granularity: polling slower gains nothing
ACK_FLUSH_SECONDS = 0.01
_RETRYABLE = (
    google_exceptions.DeadlineExceeded,
    google_exceptions.ServiceUnavailable,
    google_exceptions.InternalServerError,
    google_exceptions.Aborted,
    google_exceptions.Unknown,
)


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
    """Pulls up to `max_outstanding` messages at a time and keeps them leased until acked."""

    def __init__(
        self,
        subscriber: Any,
        subscription_path: str,
        ack_deadline_seconds: int,
        max_outstanding: int,
        on_message: Callable[[Lease], bool],
    ) -> None:
        self._subscriber = subscriber
        self._path = subscription_path
        self._deadline = ack_deadline_seconds
        self._max_outstanding = max_outstanding
        # True: the message goes on to delivery (the subscription is busy); False: dropped.
        self._on_message = on_message
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
        if threading.current_thread() is not self._puller:
            self._wake.set()  # the puller sends the acks of its own batch itself

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
        last_delivery = -HOT_SECONDS
        while not self._stopping.is_set():
            wanted = self._take_capacity()
            if wanted == 0:
                return
            pause = max(HOT_POLL_SECONDS, (time.monotonic() - last_delivery) * HOT_BACKOFF)
            hot = pause < LONG_POLL_SECONDS
            try:
                response = self._subscriber.pull(
                    subscription=self._path,
                    max_messages=wanted,
                    return_immediately=hot,
                    timeout=PULL_WAIT_SECONDS,
                )
                received = list(response.received_messages)
            except _RETRYABLE:
                received = []
            except Exception:
                log.exception("pulling %s failed; retrying in 1 s", self._path)
                received = []
                self._stopping.wait(1.0)
            for _ in range(wanted - len(received)):
                self._capacity.release()
            if self._stopping.is_set():
                self._release([r.ack_id for r in received])
                return
            if not received:
                if hot:
                    self._stopping.wait(pause)
                continue
            with self._lock:
                self._leased.update(r.ack_id for r in received)
            delivered = 0
            for item in received:
                delivered += self._on_message(Lease(self, item.ack_id, pulled_message(item)))
            if delivered:
                last_delivery = time.monotonic()
            if delivered < len(received):
                self._flush_acks()  # what the trigger dropped, in one call

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
