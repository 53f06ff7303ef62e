"""Notifications on the emulators: event-store appends beside raw Firestore writes, and
events in → emails out through the whole stack, with the latency from the causing event's
publish to the email in the SMTP sink.

    .venv/bin/python -m benchmarks.notifications [--appends 200] [--events 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from benchmarks.support import cpu_per_message, cpu_seconds, percentile
from infra.local.environment import temporary_environment
from infra.local.mail import free_port
from infra.local.prereqs import check_prerequisites
from infra.local.stack import JVM_HEAP
from shared.adapters.document_event_store import DocumentEventStore, EventStoreCollections
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.config import Settings
from shared.domain.clock import utc_now
from shared.ports.envelope import Envelope
from shared.ports.event_store import NewEvent
from shared.service.sealed_messages import MessageSealer
from tests.conftest import unique_names
from tests.e2e.notifications_stack import notifications_stack
from tests.unit.notifications.helpers import created


@contextlib.contextmanager
def firestore_emulator() -> Iterator[dict[str, str]]:
    """The Firestore emulator alone, on a free port, in its own process group: the
    event-store half needs nothing else, and starts even when the machine is loaded."""
    toolchain = check_prerequisites()
    port = free_port()
    env = {**os.environ, "JAVA": f"{toolchain.java} {JVM_HEAP}"}
    process = subprocess.Popen(
        [str(toolchain.firestore_emulator), "start", "--host=127.0.0.1", f"--port={port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the Firestore emulator did not start")
            time.sleep(0.2)
        yield {"FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{port}", "GOOGLE_CLOUD_PROJECT": "bench"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def appends(env: dict[str, str], project: str, count: int, threads: int) -> dict[str, Any]:
    """Appends of one event each, beside a raw create of one document, in this run."""
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    with temporary_environment(env):
        store = FirestoreDocumentStore(firestore.Client(project=project))
    one = NewEvent(event_id="e", type="bench.noted.v1", data={"n": 1})
    raw_collection = f"bench_raw_{uuid.uuid4().hex[:6]}"

    def event_store(shards: int) -> DocumentEventStore:
        name = f"bench_{uuid.uuid4().hex[:6]}"
        return DocumentEventStore(store, EventStoreCollections.named(name), utc_now, shards)

    def raw(i: int) -> None:
        store.run_in_transaction(lambda tx: tx.create(raw_collection, f"d{i}", {"n": i}))

    def timed(work: Any, items: range, parallel: int = 1) -> dict[str, float]:
        failed = 0

        def one_item(i: int) -> None:
            nonlocal failed
            try:
                work(i)
            except Exception:  # the emulator gives up on a contended transaction: counted
                failed += 1

        started = time.perf_counter()
        if parallel == 1:
            for i in items:
                one_item(i)
        else:
            with ThreadPoolExecutor(parallel) as pool:
                list(pool.map(one_item, items))
        elapsed = time.perf_counter() - started
        return {"per_s": _rate(len(items) - failed, elapsed), "failed": failed}

    results: dict[str, Any] = {"count": count}
    results["raw_create_sequential"] = timed(raw, range(count))
    single = event_store(16)
    results["one_stream_sequential"] = timed(
        lambda v: store.run_in_transaction(
            lambda tx: single.streams(tx).append("one", [one], expected_version=v)
        ),
        range(count),
    )
    results["many_streams_sequential"] = timed(
        lambda i: store.run_in_transaction(
            lambda tx: single.streams(tx).append(f"s-{i}", [one], expected_version=0)
        ),
        range(count),
    )
    results[f"raw_create_{threads}_writers"] = timed(
        lambda i: raw(count + i), range(count), threads
    )
    for shards in (16, 128):
        sharded = event_store(shards)
        results[f"many_streams_{threads}_writers_{shards}_shards"] = timed(
            lambda i, es=sharded: store.run_in_transaction(
                lambda tx: es.streams(tx).append(f"p-{i}", [one], expected_version=0)
            ),
            range(count),
            threads,
        )
    return results


def emails(stack: Any, sink: Any, count: int, sequential: int) -> dict[str, Any]:
    with temporary_environment(stack.env):
        # Sealed as the subscriptions function would seal its personal fields.
        publisher = PubSubPublisher(
            stack.project_id, sealer=MessageSealer.from_settings(Settings())
        )
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
    cpu_before = cpu_seconds(stack)
    started = time.time()
    publisher.publish("subscriptions-events", burst)
    sink.wait_for(base + count, timeout=600)
    cpu = cpu_per_message(cpu_before, cpu_seconds(stack), count)
    arrived = sink.arrivals()[base:]
    burst_latencies = latencies(sent_burst, arrived)
    elapsed = (arrived[-1][0] - started) if arrived else 0.0
    return {
        "burst_events": count,
        "burst_emails_received": len(arrived),
        "burst_emails_per_s": _rate(len(arrived), elapsed),
        "burst_p50_ms": round(percentile(burst_latencies, 0.5)) if burst_latencies else None,
        "burst_p95_ms": round(percentile(burst_latencies, 0.95)) if burst_latencies else None,
        "burst_max_ms": round(max(burst_latencies)) if burst_latencies else None,
        # The rate over the first 95%: one straggler (a contended transaction retried by the
        # bridge's backoff) would otherwise decide the whole number.
        "burst_emails_per_s_first_95pct": _rate(
            int(len(arrived) * 0.95),
            arrived[int(len(arrived) * 0.95) - 1][0] - started if len(arrived) >= 20 else 0.0,
        ),
        # Where the CPU goes, ms per email, by part of the stack (the mailbox is this
        # process's SMTP server, counted in "benchmark client").
        "burst_cpu_ms_per_email": {part: round(ms, 1) for part, ms in cpu.items()},
        "burst_cpu_ms_per_email_total": round(sum(cpu.values()), 1),
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
    parser.add_argument("--only", choices=["store", "stack"], default=None)
    options = parser.parse_args()
    report: dict[str, Any] = {}
    if options.only in (None, "store"):
        with firestore_emulator() as env:
            report["event_store"] = appends(env, "bench", options.appends, options.writers)
        print(json.dumps(report, indent=2), flush=True)
    if options.only in (None, "stack"):
        with (
            tempfile.TemporaryDirectory() as state,
            notifications_stack(Path(state), unique_names("bench")) as (stack, sink),
        ):
            report["through_the_stack"] = emails(stack, sink, options.events, options.sequential)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
