"""Commands per second and latency, HTTP → event, beside the raw delivery rate of the stack.

Both measured in the same run, on this machine, one after the other so they never compete
for the CPU:

- raw: messages published straight to a topic, delivered by the bridge (our Eventarc) to a
  function that does nothing (tests/support/probe_functions.py:probe_noop). This is the
  ceiling any Pub/Sub-triggered function can reach on the local stack.
- pipeline: CreateSubscription commands POSTed to subscriptions_commands_http, published,
  delivered to subscriptions_create_subscription, applied in a Firestore transaction (inbox +
  aggregate + outbox), and the SubscriptionCreated event observed on subscriptions-events.

Each is measured twice: a burst (N at once, for throughput) and one at a time (for latency
without queueing). Goals: pipeline throughput ≥ 50% of raw; pipeline p95 ≤ 100 ms.

    .venv/bin/python benchmarks/commands.py [--count 300] [--sequential 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import (  # noqa: E402
    Arrivals,
    bench_stack,
    cpu_per_message,
    cpu_seconds,
    percentile,
)
from infra.local.stack import LocalStack  # noqa: E402
from infra.samples.clients import SAMPLE_CLIENT as CLIENT  # noqa: E402

# CPU milliseconds per message by part of the stack, during each burst.
CPU: dict[str, dict[str, float]] = {}
# Share of a core each part of the stack uses while nothing happens, by stack.
IDLE: dict[str, dict[str, float]] = {}


def idle_cpu(stack: LocalStack, seconds: float) -> dict[str, float]:
    """Share of a core (%) each part of the stack uses over `seconds` with nothing sent:
    the stack's own overhead (pull loops, timers), paid all day long on a laptop."""
    before = cpu_seconds(stack)
    time.sleep(seconds)
    after = cpu_seconds(stack)
    return {part: (after[part] - before[part]) * 100 / seconds for part in after}


def measure(
    send: Callable[[int], tuple[str, float]], arrivals: Arrivals, count: int, workers: int
) -> dict[str, float]:
    """Send `count` messages, `workers` at once (1: each waits for the previous to arrive);
    time each from send to arrival."""
    arrivals.eager = workers == 1
    started = time.perf_counter()
    if workers == 1:
        sent = []
        for index in range(count):
            sent.append(send(index))
            arrivals.wait({sent[-1][0]}, timeout=30)
    else:
        with ThreadPoolExecutor(workers) as pool:
            sent = list(pool.map(send, range(count)))
    if not arrivals.wait({key for key, _ in sent}):
        raise SystemExit("not every message arrived within the time limit")
    latencies = [(arrivals.seen[key] - at) * 1000 for key, at in sent]
    finished = max(arrivals.seen[key] for key, _ in sent)
    return {
        "count": count,
        "per_second": count / (finished - started),
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "mean_ms": statistics.fmean(latencies),
    }


def raw_delivery(count: int, sequential: int) -> dict[str, dict[str, float]]:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    with bench_stack(probes=True) as stack:
        publisher = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.002)
        )
        topic = publisher.topic_path(stack.project_id, "probe-bench-in")
        # The probe acks; arrival = the bridge's 2xx, read from its stats counter.
        admin = requests.Session()

        def acked() -> int:
            stats = admin.get(f"{stack.bridge_url}/stats", timeout=5).json()
            return int(stats["trigger-probe-noop"]["acked"])

        results = {}
        for label, n, workers in (("burst", count, 16), ("one at a time", sequential, 1)):
            admin.post(f"{stack.bridge_url}/stats/reset", timeout=5)
            started = time.perf_counter()
            latencies: list[float] = []
            if workers == 1:
                for _ in range(n):
                    before, at = acked(), time.perf_counter()
                    publisher.publish(topic, b"{}").result()
                    while acked() == before:
                        time.sleep(0.0005)
                    latencies.append((time.perf_counter() - at) * 1000)
            else:
                before = cpu_seconds(stack)  # type: ignore[assignment]
                for future in [publisher.publish(topic, b"{}") for _ in range(n)]:
                    future.result()
                while acked() < n:
                    time.sleep(0.002)
                CPU["raw delivery"] = cpu_per_message(before, cpu_seconds(stack), n)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - started
            if not latencies:  # a burst: publish → 2xx as the bridge timed each delivery
                bridge = admin.get(f"{stack.bridge_url}/stats", timeout=5).json()
                latency = bridge["trigger-probe-noop"]["latency_ms"]
                latencies = [latency["p50"], latency["p95"]]
            results[label] = {
                "count": n,
                "per_second": n / elapsed,
                "p50_ms": latencies[0] if workers > 1 else percentile(latencies, 0.5),
                "p95_ms": latencies[1] if workers > 1 else percentile(latencies, 0.95),
            }
        return results


def pipeline(count: int, sequential: int, idle_seconds: float) -> dict[str, dict[str, float]]:
    with bench_stack() as stack:
        arrivals = Arrivals(
            stack.project_id,
            "subscriptions-events",
            key=lambda m: m.attributes.get("ce-causationid", ""),
        )
        local = threading.local()
        url = f"{stack.functions_url}/subscriptions_commands_http/subscriptions"

        def send(_: int) -> tuple[str, float]:
            if not hasattr(local, "http"):
                local.http = requests.Session()
            at = time.perf_counter()
            response = local.http.post(url, json={"client": CLIENT, "plan": "PRO"}, timeout=30)
            response.raise_for_status()
            return response.json()["command_id"], at

        try:
            for _ in range(10):  # warm the function instance and the clients
                send(0)
            time.sleep(1)
            if idle_seconds > 0:
                IDLE["product stack"] = idle_cpu(stack, idle_seconds)
            before = cpu_seconds(stack)
            burst = measure(send, arrivals, count, workers=16)
            CPU["command pipeline"] = cpu_per_message(before, cpu_seconds(stack), count)
            return {"burst": burst, "one at a time": measure(send, arrivals, sequential, workers=1)}
        finally:
            arrivals.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds the product stack idles, measured"
    )
    args = parser.parse_args()
    raw = raw_delivery(args.count, args.sequential)
    ours = pipeline(args.count, args.sequential, args.idle)
    print(f"\n{'':34}{'msgs/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'vs raw':>10}")
    for mode in ("burst", "one at a time"):
        for label, result in (("raw delivery", raw[mode]), ("command pipeline", ours[mode])):
            ratio = result["per_second"] / raw[mode]["per_second"]
            name = f"{label} ({mode})"
            print(
                f"{name:<34}{result['per_second']:>10.1f}{result['p50_ms']:>10.1f}"
                f"{result['p95_ms']:>10.1f}{ratio:>10.2f}"
            )
    print("\nCPU ms per message during the burst, by part of the stack:")
    for label, parts in CPU.items():
        shares = ", ".join(f"{part} {ms:.1f}" for part, ms in parts.items() if ms >= 0.05)
        print(f"  {label:<18} {sum(parts.values()):6.1f} = {shares}")
    for label, parts in IDLE.items():
        shares = ", ".join(f"{part} {pct:.1f}" for part, pct in parts.items() if pct >= 0.05)
        print(f"\nCPU % of a core, idle ({label}): {sum(parts.values()):.1f} = {shares}")
    burst_ratio = ours["burst"]["per_second"] / raw["burst"]["per_second"]
    p95 = ours["one at a time"]["p95_ms"]
    print(
        f"\ngoal: pipeline ≥ 50% of raw throughput: {burst_ratio:.0%} "
        f"({'met' if burst_ratio >= 0.5 else 'not met'})"
    )
    print(
        f"goal: pipeline p95 ≤ 100 ms (one at a time): {p95:.0f} ms ({'met' if p95 <= 100 else 'not met'})"
    )


if __name__ == "__main__":
    main()
