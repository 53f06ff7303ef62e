"""What one email costs in Firestore operations, counted with the counting adapters (what
the cloud bills, benchmarks/costs.py): a notification's stream is far shorter than the
snapshot interval, so no load reads its (absent) snapshot, and a burst of emails shares
its SMTP connections."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.notifications import wiring
from functions.notifications.domain import Notification
from functions.notifications.messages import DeliveryAttemptStarted
from infra.local.mail import MailSink
from shared.adapters.counting import Counters, CountingDocumentStore
from shared.platform import Platform
from shared.ports.event_store import Snapshot
from shared.service.event_sourcing import EventSourcedRepository
from tests.unit.notifications.helpers import SUBSCRIPTIONS_EVENTS, Bus, created, envelope_of

EMAILS = 5


def _counted(platform: InMemoryPlatform) -> Counters:
    counters = Counters()
    base: Platform = platform
    bootstrap.use(dataclasses.replace(base, store=CountingDocumentStore(platform.store, counters)))
    return counters


def _burst(platform: InMemoryPlatform) -> tuple[Counter[str], Counter[str]]:
    """The operations of the events' functions, then of the deliveries', per email."""
    counters = _counted(platform)
    bus = Bus(platform)
    for n in range(EMAILS):
        bus.send(
            SUBSCRIPTIONS_EVENTS, envelope_of(created(code=f"{n:04d}", email=f"c{n}@example.com"))
        )
    notify = counters.snapshot()
    bus.run()
    return notify, counters.since(notify)


def test_no_load_reads_a_snapshot_of_a_short_stream(
    platform: InMemoryPlatform, sink: MailSink
) -> None:
    notify, deliver = _burst(platform)
    assert len(sink.messages) == EMAILS
    snapshots = "firestore.reads:notifications_snapshots"
    assert notify[snapshots] == deliver[snapshots] == 0
    # Per email: the event's transaction reads its inbox record, the recipient, the
    # stream's head and the shard's counter (6 before: the snapshot, and the view of a
    # stream that has none yet).
    assert notify["firestore.reads"] == 4 * EMAILS
    # The delivery read 16: 2 snapshots of a 2-event stream, its first events again to
    # record the outcome, and the delivery ledger, which only a takeover needs (an earlier
    # claimant of the attempt may have sent it); now 11.
    assert deliver["firestore.reads"] == 11 * EMAILS


def test_the_documents_a_handler_reads_come_with_its_inbox_record(
    platform: InMemoryPlatform, sink: MailSink
) -> None:
    notify, deliver = _burst(platform)
    # An event: the inbox record and its recipient in one request, then the stream's head
    # and the shard's counter (with begin and commit: 8 before).
    assert notify["firestore.requests"] == 5 * EMAILS
    # A delivery: the claim (inbox, head, first event and view at once, then the shard's
    # counter), the stream's query, the recipient, the ledger's write, the outcome (head,
    # shard, view): 20 before.
    assert deliver["firestore.requests"] == 13 * EMAILS


def test_only_an_attempt_claimed_before_is_looked_up_in_the_ledger() -> None:
    first = Notification.blank("n-1")
    first.version = 1
    first.apply(_started(1, "a"))
    assert not first.claimed_before
    first.apply(_started(1, "b"))  # a takeover: the first claimant may have sent it
    assert first.claimed_before
    first.apply(_started(2, "c"))  # the next attempt (after a failed one)
    assert not first.claimed_before
    # From a snapshot of before the count: unknown, so looked up.
    state = {**first.to_snapshot(), "status": "sending"}
    del state["claims"]
    old = Notification.from_snapshot("n-1", 3, state)
    old.apply(_started(2, "d"))
    assert old.claimed_before


def _started(attempt: int, by: str) -> DeliveryAttemptStarted:
    return DeliveryAttemptStarted(
        notification_id="n-1", attempt=attempt, claimed_by=by,
        started_at="2026-12-02T12:00:00.000Z", lease_until="2026-12-02T12:05:00.000Z",
    )  # fmt: skip


def test_a_stream_as_long_as_the_snapshot_interval_is_loaded_from_its_snapshot(
    platform: InMemoryPlatform, sink: MailSink
) -> None:
    _burst(platform)  # each stream: created, started, sent
    w = bootstrap.context(wiring.build)
    [nid, *_] = [i for i, _ in platform.store.query(w.storage.view.collection).items]

    def load(every: int) -> tuple[Notification | None, int]:
        counters = Counters()
        store = CountingDocumentStore(platform.store, counters)

        def work(tx: Any) -> Notification | None:
            repository = EventSourcedRepository(
                w.storage.events.streams(tx), Notification, snapshot_every=every
            )
            return repository.get(nid)

        found = store.run_in_transaction(work)
        return found, counters["firestore.reads:notifications_snapshots"]

    # As saved when the stream reached 2 events (its claim) with snapshot_every 2.
    def save(tx: Any) -> None:
        repository = EventSourcedRepository(
            w.storage.events.streams(tx), Notification, snapshot_every=2
        )
        notification = repository.get(nid)
        assert notification is not None
        state = {**notification.to_snapshot(), "status": "sending"}  # as at version 2
        w.storage.events.streams(tx).save_snapshot(Snapshot(nid, 2, state))

    platform.store.run_in_transaction(save)
    short, reads_short = load(50)
    long, reads_long = load(2)
    assert (reads_short, reads_long) == (0, 1)
    assert short is not None and long is not None
    # From the snapshot at 2 plus the event after it: the same state as the whole stream.
    assert long.status == short.status and long.version == short.version == 3
