"""Notifications on the emulators: event-store appends beside raw Firestore writes, and
events in → emails out through the whole stack, with the latency from the causing event's
publish to the email in the SMTP sink.

    .venv/bin/python -m benchmarks.notifications [--appends 200] [--events 100]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.support import percentile
from infra.local.environment import temporary_environment
from shared.adapters.document_event_store import DocumentEventStore, EventStoreCollections
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.domain.clock import utc_now
from shared.ports.envelope import Envelope
from shared.ports.event_store import NewEvent
from tests.conftest import unique_names
from tests.e2e.notifications_stack import notifications_stack
from tests.unit.notifications.helpers import created


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def appends(env: dict[str, str], project: str, count: int, threads: int) -> dict[str, Any]:
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    with temporary_environment(env):
        store = FirestoreDocumentStore(firestore.Client(project=project))
    events = DocumentEventStore(
        store, EventStoreCollections.named(f"bench_{uuid.uuid4().hex[:6]}"), utc_now
    )
    raw_collection = f"bench_raw_{uuid.uuid4().hex[:6]}"
    one = NewEvent(event_id="e", type="bench.noted.v1", data={"n": 1})

    def raw(i: int) -> None:
        store.run_in_transaction(lambda tx: tx.create(raw_collection, f"d{i}", {"n": i}))

    def to_stream(stream: str, version: int) -> None:
        store.run_in_transaction(
            lambda tx: events.streams(tx).append(stream, [one], expected_version=version)
        )

    results: dict[str, Any] = {}
    started = time.perf_counter()
    for i in range(count):
        raw(i)
    results["raw_write_sequential_per_s"] = _rate(count, time.perf_counter() - started)
    started = time.perf_counter()
    for version in range(count):
        to_stream("one-stream", version)
    results["one_stream_sequential_per_s"] = _rate(count, time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(count):
        to_stream(f"seq-{i}", 0)
    results["many_streams_sequential_per_s"] = _rate(count, time.perf_counter() - started)
    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        list(pool.map(lambda i: raw(count + i), range(count)))
        results[f"raw_write_{threads}_writers_per_s"] = _rate(count, time.perf_counter() - started)
        started = time.perf_counter()
        list(pool.map(lambda i: to_stream(f"par-{i}", 0), range(count)))
        results[f"many_streams_{threads}_writers_per_s"] = _rate(
            count, time.perf_counter() - started
        )
    return results


def emails(stack: Any, sink: Any, count: int, sequential: int) -> dict[str, Any]:
    with temporary_environment(stack.env):
        publisher = PubSubPublisher(stack.project_id)
    run = uuid.uuid4().hex[:6]

    def event(n: int) -> Envelope:
        return Envelope(
            payload=created(code=f"{run}{n:04d}", email=f"b{run}{n}@example.com"),
            source="/saludtech/subscriptions",
        )

    def latencies(sent: dict[str, float], arrived: list[tuple[float, Any]]) -> list[float]:
        return [(at - sent[str(m["To"])]) * 1000 for at, m in arrived if str(m["To"]) in sent]

    # One at a time: each event's email before the next event.
    sent: dict[str, float] = {}
    for n in range(sequential):
        before = len(sink.messages)
        sent[f"b{run}{n}@example.com"] = time.time()
        publisher.publish("subscriptions-events", [event(n)])
        sink.wait_for(before + 1, timeout=60)
    one_at_a_time = latencies(sent, sink.arrivals())
    # A burst: every event published at once.
    base = len(sink.messages)
    burst = [event(sequential + n) for n in range(count)]
    sent_burst = {str(e.payload.client_email): time.time() for e in burst}  # type: ignore[attr-defined]
    started = time.time()
    publisher.publish("subscriptions-events", burst)
    sink.wait_for(base + count, timeout=600)
    arrived = sink.arrivals()[base:]
    burst_latencies = latencies(sent_burst, arrived)
    elapsed = (arrived[-1][0] - started) if arrived else 0.0
    return {
        "burst_events": count,
        "burst_emails_received": len(arrived),
        "burst_emails_per_s": _rate(len(arrived), elapsed),
        "burst_p50_ms": round(percentile(burst_latencies, 0.5)) if burst_latencies else None,
        "burst_p95_ms": round(percentile(burst_latencies, 0.95)) if burst_latencies else None,
        "one_at_a_time_events": sequential,
        "one_at_a_time_p50_ms": round(percentile(one_at_a_time, 0.5)) if one_at_a_time else None,
        "one_at_a_time_p95_ms": round(percentile(one_at_a_time, 0.95)) if one_at_a_time else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--sequential", type=int, default=20)
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as state,
        notifications_stack(Path(state), unique_names("bench")) as (stack, sink),
    ):
        report = {
            "event_store": appends(stack.env, stack.project_id, options.appends, options.writers),
            "through_the_stack": emails(stack, sink, options.events, options.sequential),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
