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
from infra.local.mail import MailSink
from shared.adapters.counting import Counters, CountingDocumentStore
from shared.ports.event_store import Snapshot
from shared.service.event_sourcing import EventSourcedRepository
from tests.unit.notifications.helpers import SUBSCRIPTIONS_EVENTS, Bus, created, envelope_of

EMAILS = 5


def _counted(platform: InMemoryPlatform) -> Counters:
    counters = Counters()
    bootstrap.use(
        dataclasses.replace(platform, store=CountingDocumentStore(platform.store, counters))
    )
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
    # Per email: the event's transaction reads its inbox record, the stream's head, the
    # shard's counter, the recipient and the view; the delivery 16 reads before (2 of them
    # snapshots of a 2-event stream), now 14.
    assert notify["firestore.reads"] == 5 * EMAILS
    assert deliver["firestore.reads"] == 14 * EMAILS


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
