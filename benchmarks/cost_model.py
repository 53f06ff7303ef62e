"""The price list and the capacity model benchmarks/costs.py applies to what it measured.

Prices: public list prices read on 2026-12-05, USD, a Tier 1 region (us-central1), no free
tier (our Firestore databases are named ones, which have none; the functions' free tier is
a rounding error at this volume):

- Cloud Run functions (Cloud Functions 2nd gen bill as Cloud Run services, CPU allocated
  during requests): $0.000024 per vCPU-second, $0.0000025 per GiB-second, $0.40 per
  million requests (https://cloud.google.com/run/pricing).
- Firestore (Standard edition, regional): $0.03 per 100,000 document reads, $0.09 per
  100,000 writes, $0.01 per 100,000 deletes (https://cloud.google.com/firestore/pricing;
  the multi-region nam5 doubles them).
- Pub/Sub: $40 per TiB of publish and of delivery, at least 1,000 bytes a request, a
  message counted as data + attributes + 20 bytes of timestamp + its id; a message a
  subscription's filter drops is billed as delivered
  (https://cloud.google.com/pubsub/pricing, https://cloud.google.com/pubsub/docs/filtering).
- Cloud Storage (Standard, regional): $0.005 per 1,000 class A operations, $0.0004 per
  1,000 class B, deletes free, $0.020 per GB-month
  (https://cloud.google.com/storage/pricing-examples).
- Eventarc: events from Google sources (Cloud Storage) are free; their Pub/Sub transport is
  billed as Pub/Sub (https://cloud.google.com/eventarc/docs/run/pricing).

What the in-memory run cannot see is modelled, with the figures below (docs/capacity.md says
where they come from): the CPU the Google client libraries spend per request, and the time
each request waits on the network.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from infra.local.topology import Capacity, Topology, capacity_of

VCPU_SECOND = 0.000024
GIB_SECOND = 0.0000025
REQUEST = 0.40 / 1e6
FIRESTORE_READ = 0.03 / 1e5
FIRESTORE_WRITE = 0.09 / 1e5
PUBSUB_BYTE = 40 / 2**40
GCS_CLASS_A = 0.005 / 1e3
GCS_CLASS_B = 0.0004 / 1e3
GCS_GB_MONTH = 0.020

# What Cloud Functions gives a function that names no CPU, by its memory.
_CPU_OF_MEMORY = {"128Mi": 0.083, "256Mi": 0.167, "512Mi": 0.333, "1Gi": 0.583, "2Gi": 1.0}


@dataclass(frozen=True)
class Latency:
    """Per request a function sends: client-library CPU and the wait on the service."""

    # The local stack's functions spent 22 ms of CPU per ingested file and 10-16 ms per
    # command (docs/benchmarks.md) against 2-7 ms in process here: ~2 ms per request sent
    # or received (gRPC/HTTP, protobuf, auth, the push request's own framing).
    client_cpu: float = 0.002
    firestore: float = 0.008  # one round trip in region
    pubsub: float = 0.012  # a publish: the publisher's 2 ms batch, then the round trip
    gcs: float = 0.030  # an object read, write or metadata request of a small object
    # Cloud Run bills an instance's busy time rounded up to 100 ms: a request that has an
    # instance to itself pays at least that.
    minimum_billed: float = 0.100


@dataclass(frozen=True)
class Load:
    images_per_day: float = 1_000_000
    sagas_per_day: float = 10_000
    commands_per_day: float = 10_000  # BASIC CreateSubscription, beside the sagas
    # Hospitals send in working hours: the busiest hour carries 3x the day's average rate.
    peak_factor: float = 3.0
    # How the million images arrive (assumed): single files from the gateway and STOW-RS,
    # studies zipped by hand, ultrasounds and captures whose burned-in text OCR reads.
    image_mix: dict[str, float] = field(
        default_factory=lambda: {
            "image: ct": 0.6,
            "image: zip_entry": 0.3,
            "image: ultrasound_ocr": 0.1,
        }
    )

    def per_day(self, unit: str) -> float:
        if unit.startswith("image:"):
            return self.images_per_day * self.image_mix.get(unit, 0.0)
        if unit.startswith("saga:"):
            return self.sagas_per_day
        return self.commands_per_day


def cpu_of(capacity: Capacity) -> float:
    return capacity.cpu if capacity.cpu is not None else _CPU_OF_MEMORY.get(capacity.memory, 0.333)


def gib_of(memory: str) -> float:
    number = float(memory.rstrip("MiG"))
    return number / 1024 if memory.endswith("Mi") else number


@dataclass
class Call:
    """One function's average call, as measured, and what the model adds to it."""

    name: str
    calls: float  # per unit
    cpu: float  # seconds measured in process, per call
    counts: dict[str, float]  # per call, by counter name

    def count(self, name: str) -> float:
        return self.counts.get(name, 0.0)

    def requests(self) -> float:
        """Requests per call: the push that delivers it, and those it sends."""
        sent = ("firestore.requests", "pubsub.requests", "gcs.requests")
        return 1 + sum(self.count(name) for name in sent)

    def compute(self, latency: Latency) -> float:
        """CPU seconds per call in the cloud: measured + the client libraries'."""
        return self.cpu + latency.client_cpu * self.requests()

    def wall(self, latency: Latency, capacity: Capacity) -> float:
        """Seconds from push to answer: the CPU work on the instance's CPU share, then the
        waits (sequential: no handler overlaps its requests)."""
        waits = (
            self.count("firestore.requests") * latency.firestore
            + self.count("pubsub.requests") * latency.pubsub
            + self.count("gcs.requests") * latency.gcs
        )
        return self.compute(latency) / min(1.0, cpu_of(capacity)) + waits


@dataclass
class Sizing:
    name: str
    peak_per_second: float
    compute_ms: float
    wall_ms: float
    in_flight: float  # requests in flight at the peak (Little's law)
    instances: float  # needed at the peak with the topology's concurrency and CPU


def size(call: Call, per_second: float, capacity: Capacity, latency: Latency) -> Sizing:
    wall, compute = call.wall(latency, capacity), call.compute(latency)
    in_flight = per_second * wall
    # An instance holds `concurrency` requests, and its CPU must keep up (at 80% busy).
    instances = max(
        in_flight / capacity.concurrency, per_second * compute / (0.8 * cpu_of(capacity))
    )
    return Sizing(call.name, per_second, compute * 1000, wall * 1000, in_flight, instances)


def billed_seconds(call: Call, per_second: float, capacity: Capacity, latency: Latency) -> float:
    """Instance seconds billed per call. Fewer than one request in flight on average: each
    has an instance to itself and pays at least the 100 ms rounding. More: instances stay
    busy, and the requests in flight together (up to the concurrency) share the time."""
    wall = call.wall(latency, capacity)
    in_flight = per_second * wall
    if in_flight < 1.0:
        return max(wall, latency.minimum_billed)
    together = min(float(capacity.concurrency), in_flight)
    return max(wall / together, call.compute(latency) / cpu_of(capacity))


@dataclass
class UnitCost:
    compute: float = 0.0
    firestore: float = 0.0
    pubsub: float = 0.0
    gcs: float = 0.0
    storage_month: float = 0.0  # the GB-month a unit adds, priced per month kept

    @property
    def total(self) -> float:
        return self.compute + self.firestore + self.pubsub + self.gcs


def unit_cost(
    calls: list[Call],
    counts: dict[str, float],
    per_second: dict[str, float],
    topology: Topology,
    latency: Latency,
) -> UnitCost:
    """What one unit costs: its functions' billed time and requests, and every operation
    counted during it (the platform's deliveries included)."""
    cost = UnitCost()
    for call in calls:
        capacity = capacity_of(topology, call.name)
        billed = billed_seconds(call, per_second.get(call.name, 0.0), capacity, latency)
        rate = cpu_of(capacity) * VCPU_SECOND + gib_of(capacity.memory) * GIB_SECOND
        cost.compute += call.calls * (billed * rate + REQUEST)
    c = Counter(counts)
    cost.firestore = c["firestore.reads"] * FIRESTORE_READ + c["firestore.writes"] * FIRESTORE_WRITE
    cost.pubsub = (c["pubsub.billed_bytes"] + c["pubsub.delivered_bytes"]) * PUBSUB_BYTE
    cost.gcs = c["gcs.class_a"] * GCS_CLASS_A + c["gcs.class_b"] * GCS_CLASS_B
    cost.storage_month = c["gcs.bytes_written"] / 1e9 * GCS_GB_MONTH
    return cost


def suggested_max_instances(sizing: Sizing) -> int:
    """Room for the busiest hour and for catching up: after an outage of an hour at the
    peak, the backlog drains in 15 minutes while new work keeps arriving, so 5x what the
    peak needs; never fewer than 3 (a cold start beside a slow instance)."""
    return max(3, math.ceil(5 * sizing.instances))
