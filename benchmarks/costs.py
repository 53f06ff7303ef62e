"""What one unit of work costs, function by function: CPU seconds, peak memory, Firestore
reads and writes, Pub/Sub messages and GCS operations, counted by the counting adapters
(shared/adapters/counting.py) on the in-memory platform, in this process.

Every function runs as Pub/Sub, Eventarc and the api would run it: a message published is
handed to each function whose trigger (infra/topology.yaml, filter included) takes it, as
its push request, until no message is left; doors are called in process, each call metered
as its own function. Units:

- image: one upload of a CT slice without burned-in text; one ultrasound with burned-in
  text (the OCR screen finds and masks it); one entry of a zip of --zip-entries CT slices
  (the zip's own upload shared among its entries). Every function the upload triggers.
- command: one BASIC CreateSubscription at the subscriptions' command door (what the api
  forwards), and every function its messages trigger.
- saga: one PRO CreateSubscription paid with `tok_visa` at once, to SagaCompleted
  (DELIVERED), and every function on the way (notifications included).

CPU is the calling thread's time (time.thread_time, so the SMTP sink's thread is not
counted) around each function call, a door called inside a function counted to the door;
memory is the peak of Python allocations (tracemalloc) in a second, traced pass. Firestore,
Pub/Sub and GCS do not run in a function's CPU in the cloud, and their in-memory stand-ins
cost this process little: the CPU is the function's own.

Baselines measured in the same run (the repo's rule: ratios, not bare numbers): for the
images, a plain pydicom read + write of the same bytes; for commands and sagas, one
delivery to a function that does nothing (tests/support/probe_functions.py:probe).

    .venv/bin/python -m benchmarks.costs [--images 20] [--zip-entries 20] [--study-slices 10]
        [--commands 20] [--sagas 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import itertools
import json
import sys
import time
import tracemalloc
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import main as entry_points  # noqa: E402
from benchmarks.cost_model import (  # noqa: E402
    Call,
    Latency,
    Load,
    cpu_of,
    size,
    suggested_max_instances,
    unit_cost,
)
from benchmarks.support import bench_expert  # noqa: E402
from functions import bootstrap  # noqa: E402
from functions.ingestion.entrypoints import ingestion_on_upload  # noqa: E402
from infra.local.mail import MailSink  # noqa: E402
from infra.local.topology import TriggerSubscription, capacity_of, load_topology  # noqa: E402
from infra.samples.clients import SAMPLE_CLIENT  # noqa: E402
from shared.adapters.counting import (  # noqa: E402
    PUBSUB_MINIMUM_BYTES,
    Counters,
    CountingBlobStore,
    CountingDocumentStore,
    CountingPublisher,
    Encode,
    pubsub_size,
)
from shared.adapters.in_process_doors import DoorFunction, InProcessDoors  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.platform import Platform  # noqa: E402
from tests.support.cloud_events import binary_event, pubsub_event  # noqa: E402
from tests.unit.ingestion.helpers import finalized_event, zipped  # noqa: E402

TOPOLOGY = load_topology()
# Every image of a run is new: the same study again would be a re-upload, another path.
_SEEDS = itertools.count(1)
FUNCTION_OF_TARGET = {f.target: name for name, f in TOPOLOGY.functions.items()}
COMPLETED = "co.saludtech.sagas.saga.completed.v1"


@dataclass
class Usage:
    """What the calls of one function added up to."""

    calls: int = 0
    cpu: float = 0.0
    peak: int = 0  # bytes, the highest of its calls
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, cpu: float, peak: int, counts: Counter[str]) -> None:
        self.calls += 1
        self.cpu += cpu
        self.peak = max(self.peak, peak)
        self.counts.update(counts)


@dataclass
class _Frame:
    cpu_start: float
    before: Counter[str]
    memory_start: int
    child_cpu: float = 0.0
    child_counts: Counter[str] = field(default_factory=Counter)
    child_peak: int = 0


class Meter:
    """Runs functions, each call's CPU, memory and counts to that function's name, a nested
    call (a door asked by a handler) to the nested function alone."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.usage: dict[str, Usage] = defaultdict(Usage)
        self.tracing = False
        self._stack: list[_Frame] = []

    def run(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        memory_start = 0
        if self.tracing:
            current, peak = tracemalloc.get_traced_memory()
            if self._stack:  # the caller's peak so far, before the reset below loses it
                self._stack[-1].child_peak = max(self._stack[-1].child_peak, peak)
            tracemalloc.reset_peak()
            memory_start = current
        frame = _Frame(time.thread_time(), self.counters.snapshot(), memory_start)
        self._stack.append(frame)
        try:
            return function(*args)
        finally:
            self._stack.pop()
            cpu = time.thread_time() - frame.cpu_start
            counts = self.counters.since(frame.before)
            peak_at = (
                max(tracemalloc.get_traced_memory()[1], frame.child_peak) if self.tracing else 0
            )
            own = Counter(counts)
            own.subtract(frame.child_counts)
            self.usage[name].add(cpu - frame.child_cpu, peak_at - memory_start, +own)
            if self._stack:
                parent = self._stack[-1]
                parent.child_cpu += cpu
                parent.child_counts.update(counts)
                parent.child_peak = max(parent.child_peak, peak_at)

    def take(self) -> dict[str, Usage]:
        taken, self.usage = dict(self.usage), defaultdict(Usage)
        return taken


class World:
    """The whole product on one in-memory platform behind the counting adapters."""

    def __init__(self, sink: MailSink) -> None:
        self.counters = Counters()
        self.meter = Meter(self.counters)
        settings = Settings(
            smtp_port=sink.port,
            operator_email="oncall@example.com",
            # A throwaway key: personal fields are sealed in messages and at rest, as in the
            # cloud, so their cost is counted.
            field_encryption_key=SecretStr(
                base64.b64encode(b"costs-benchmark-key".ljust(32)).decode()
            ),
        )
        # The unit tests' platform, its adapters wrapped: the same wiring as every test.
        memory = bootstrap.in_memory_platform(settings)
        self.memory, self.blobs = memory.publisher, memory.blobs
        # An envelope on the wire as the platform's publisher sends it, personal fields sealed.
        self.encode: Encode = lambda envelope: envelope.to_pubsub(memory.sealer)
        base: Platform = memory
        self.platform = dataclasses.replace(
            base,
            store=CountingDocumentStore(memory.store, self.counters),
            publisher=CountingPublisher(memory.publisher, self.counters, self.encode),
            blobs=CountingBlobStore(memory.blobs, self.counters),
            doors=InProcessDoors(self._door),
        )
        bootstrap.use(self.platform)
        self.delivered: Counter[str] = Counter()  # per topic, how many were handed on
        self.failures: Counter[str] = Counter()
        self.triggers: dict[str, list[TriggerSubscription]] = defaultdict(list)
        for trigger in TOPOLOGY.trigger_subscriptions():
            if trigger.kind == "pubsub":
                self.triggers[trigger.topic].append(trigger)

    def _door(self, target: str) -> DoorFunction:
        door: DoorFunction = getattr(entry_points, target)
        return lambda request: self.meter.run(FUNCTION_OF_TARGET[target], door, request)

    def call(self, target: str, method: str, path: str, body: Any = None) -> Any:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        answer = self.platform.doors.call(target, method, path, body=body, headers=headers)
        if not 200 <= answer.status < 300:
            raise SystemExit(f"{target} {method} {path}: {answer.status} {answer.body}")
        return answer.body

    def upload(self, name: str, data: bytes) -> None:
        """An object finalized in the ingest bucket, delivered as Eventarc does."""
        bucket = self.platform.settings.bucket("ingest")
        info = self.blobs.write(bucket, name, data, create_only=False)
        self.counters.add("gcs.class_a")  # the center's upload (one request)
        event = finalized_event(bucket, name, info.generation, len(data))
        # The trigger's bucket notification (class B, "each object notification"), then
        # Eventarc (free for Google sources) over its Pub/Sub transport: one delivery.
        self.counters.add("gcs.class_b")
        self.counters.add("eventarc.events")
        self.counters.add("pubsub.deliveries")
        self.counters.add("pubsub.delivered_bytes", PUBSUB_MINIMUM_BYTES)
        self._run("ingestion-on-upload", ingestion_on_upload, binary_event(event))
        self.settle()

    def _run(self, name: str, function: Callable[..., Any], request: Any) -> None:
        response = self.meter.run(name, function, request)
        status = getattr(response, "status_code", 204)
        if status >= 300:
            self.failures[name] += 1

    def settle(self, limit: int = 100_000) -> None:
        """Deliver every message published, and what their functions publish, until quiet."""
        for _ in range(limit):
            pending = [
                (topic, envelope)
                for topic in TOPOLOGY.topics
                for envelope in self.memory.messages(topic)[self.delivered[topic] :]
            ]
            if not pending:
                return
            for topic, envelope in pending:
                self.delivered[topic] += 1
                self._deliver(topic, envelope)
        raise SystemExit("the messages never settled")

    def _deliver(self, topic: str, envelope: Any) -> None:
        data, attributes = self.encode(envelope)
        billed = max(PUBSUB_MINIMUM_BYTES, pubsub_size(data, attributes))
        for trigger in self.triggers[topic]:
            # Every subscription of the topic is billed the message, filtered out or not
            # (Pub/Sub bills filtered-out messages as delivered).
            self.counters.add("pubsub.deliveries")
            self.counters.add("pubsub.delivered_bytes", billed)
            wanted = trigger.policy.attribute_filter
            if wanted is not None and not wanted.matches(attributes):
                self.counters.add("pubsub.filtered_out")
                continue
            request = pubsub_event(data, attributes, envelope.id, topic)
            self._run(trigger.function, getattr(entry_points, trigger.target), request)


# -- units ---------------------------------------------------------------------------------


def ct_slices(count: int, per_study: int) -> list[bytes]:
    """CT slices as benchmarks/ingest.py makes them (256 x 256, planted PHI), `per_study`
    slices of each patient's one study."""
    from infra.samples.synthetic_dicom import make_study

    files: list[bytes] = []
    while len(files) < count:
        seed = next(_SEEDS)
        for ds in make_study(
            patient_name=f"PATIENT{seed:04d}^COSTS", n_series=1, n_instances=per_study,
            with_sr=False, rows=256, cols=256, seed=seed,
        ):  # fmt: skip
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            files.append(buffer.getvalue())
    return files[:count]


def ultrasounds(count: int) -> list[bytes]:
    from infra.samples.burned_in import make_case

    return [
        make_case(5000 + n, kind="ultrasound", flag="NO", with_text=True).data for n in range(count)
    ]


def images_of(kind: str, count: int, per_study: int) -> list[bytes]:
    """New images of one kind (a zip's entries are CT slices)."""
    return ultrasounds(count) if kind == "ultrasound_ocr" else ct_slices(count, per_study)


def run_images(world: World, kind: str, files: list[bytes]) -> None:
    """Uploads the files one by one, or as the entries of one zip."""
    center = f"bench-{uuid.uuid4().hex[:6]}"
    if kind == "zip_entry":
        world.upload(
            f"{center}/study.zip", zipped({f"IM{n:04d}.dcm": d for n, d in enumerate(files)})
        )
        return
    for n, data in enumerate(files):
        world.upload(f"{center}/{kind}-{n}.dcm", data)


def register_experts(world: World, count: int) -> None:
    for n in range(count):
        expert = bench_expert(f"BENCH-{n:02d}", f"bench{n:02d}", f"bench-expert-{n}@example.com")
        world.call("data_services_commands_http", "POST", "/experts", expert)
    world.settle()


def subscribe(world: World, plan: str, n: int) -> str:
    code = f"b{uuid.uuid4().hex[:6]}{n:03d}"
    client = {**SAMPLE_CLIENT, "code": code, "email": f"{code}@example.com"}
    answer = world.call(
        "subscriptions_commands_http", "POST", "/subscriptions", {"client": client, "plan": plan}
    )
    subscription_id = str(answer["subscription_id"])
    if plan == "PRO":
        world.call(
            "subscriptions_commands_http", "POST", f"/subscriptions/{subscription_id}/payments",
            {"card_token": "tok_visa"},
        )  # fmt: skip
    world.settle()
    return subscription_id


# -- baselines -----------------------------------------------------------------------------


def pydicom_cpu(files: list[bytes]) -> float:
    """CPU seconds per file of a plain pydicom read + write of the same bytes."""
    import pydicom

    start = time.thread_time()
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.save_as(io.BytesIO(), enforce_file_format=True)
    return (time.thread_time() - start) / len(files)


def noop_cpu(count: int = 200) -> float:
    """CPU seconds of one Pub/Sub push to a function that does nothing: the push adapter
    every product function has (shared/entrypoints/pushed.py), no handler, no Firestore."""
    from functions.subscriptions.messages import ChangePlan
    from shared.entrypoints.pushed import pushed_event
    from shared.ports.envelope import Envelope

    noop = pushed_event(lambda event: None)
    envelope = Envelope(payload=ChangePlan(subscription_id="s1", plan="PRO"), source="/bench")
    data, attributes = envelope.to_pubsub()
    requests = [pubsub_event(data, attributes, f"m-{n}") for n in range(count + 1)]
    noop(requests[0])  # warm
    start = time.thread_time()
    for request in requests[1:]:
        noop(request)
    return (time.thread_time() - start) / count


# -- the run -------------------------------------------------------------------------------


@dataclass
class Unit:
    name: str
    count: int
    usage: dict[str, Usage]
    baseline: float  # CPU seconds of the baseline, for the ratio
    # Everything counted during the unit, the platform's own share included (the deliveries
    # to each subscription, the Eventarc event, the center's upload).
    counts: Counter[str] = field(default_factory=Counter)

    def total(self) -> Usage:
        whole = Usage(counts=self.counts)
        for used in self.usage.values():
            whole.calls += used.calls
            whole.cpu += used.cpu
            whole.peak = max(whole.peak, used.peak)
        return whole


def measure(args: argparse.Namespace, world: World, traced: bool) -> list[Unit]:
    """Every unit once: CPU and counts when not traced, memory when traced."""
    world.meter.tracing = traced
    if traced:
        tracemalloc.start()
    units: list[Unit] = []
    # A traced pass runs a few of each, for the peaks (tracemalloc slows the CPU down).
    images = args.images if not traced else 2
    zip_entries = args.zip_entries if not traced else min(5, args.zip_entries)
    for kind, count in (("ct", images), ("ultrasound_ocr", images), ("zip_entry", zip_entries)):
        files = images_of(kind, count, args.study_slices)
        world.meter.take()
        before = world.counters.snapshot()
        run_images(world, kind, files)
        usage, counts = world.meter.take(), world.counters.since(before)
        units.append(Unit(f"image: {kind}", count, usage, pydicom_cpu(files), counts))
    noop = noop_cpu()
    commands = args.commands if not traced else 2
    world.meter.take()
    before = world.counters.snapshot()
    for n in range(commands):
        subscribe(world, "BASIC", n)
    usage, counts = world.meter.take(), world.counters.since(before)
    units.append(Unit("command: BASIC CreateSubscription", commands, usage, noop, counts))
    sagas = args.sagas if not traced else 1
    completed = len([e for e in world.memory.messages("sagas-events") if e.type == COMPLETED])
    before = world.counters.snapshot()
    for n in range(sagas):
        subscribe(world, "PRO", n)
    done = len([e for e in world.memory.messages("sagas-events") if e.type == COMPLETED])
    if done - completed != sagas:
        raise SystemExit(f"{done - completed} of {sagas} sagas completed")
    usage, counts = world.meter.take(), world.counters.since(before)
    units.append(Unit("saga: PRO to DELIVERED", sagas, usage, noop, counts))
    if traced:
        tracemalloc.stop()
    return units


def per_unit(unit: Unit) -> dict[str, float]:
    whole = unit.total()
    c = whole.counts
    n = unit.count
    return {
        "functions": whole.calls / n,
        "cpu_ms": whole.cpu * 1000 / n,
        "vs_baseline": whole.cpu / n / unit.baseline,
        "fs_reads": c["firestore.reads"] / n,
        "fs_writes": c["firestore.writes"] / n,
        "fs_queries": c["firestore.queries"] / n,
        "fs_tx": c["firestore.transactions"] / n,
        "fs_retries": c["firestore.transaction_retries"] / n,
        "fs_version_reads": c["firestore.version_reads"] / n,
        "ps_published": c["pubsub.messages"] / n,
        "ps_published_kb": c["pubsub.bytes"] / 1000 / n,
        "ps_deliveries": c["pubsub.deliveries"] / n,
        "ps_filtered_out": c["pubsub.filtered_out"] / n,
        "ps_billed_kb": (c["pubsub.billed_bytes"] + c["pubsub.delivered_bytes"]) / 1000 / n,
        "gcs_a": c["gcs.class_a"] / n,
        "gcs_b": c["gcs.class_b"] / n,
        "gcs_deletes": c["gcs.deletes"] / n,
        "gcs_written_kb": c["gcs.bytes_written"] / 1000 / n,
        "eventarc": c["eventarc.events"] / n,
        "baseline_ms": unit.baseline * 1000,
    }


def per_function(unit: Unit, peaks: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for name, used in sorted(unit.usage.items(), key=lambda kv: -kv[1].cpu):
        c = used.counts
        rows.append({
            "function": name,
            "calls_per_unit": used.calls / unit.count,
            "cpu_ms_per_call": used.cpu * 1000 / used.calls,
            "peak_mib": peaks.get(name, 0) / 2**20,
            "fs_reads_per_call": c["firestore.reads"] / used.calls,
            "fs_writes_per_call": c["firestore.writes"] / used.calls,
            "fs_queries_per_call": c["firestore.queries"] / used.calls,
            "published_per_call": c["pubsub.messages"] / used.calls,
            "gcs_a_per_call": c["gcs.class_a"] / used.calls,
            "gcs_b_per_call": c["gcs.class_b"] / used.calls,
        })  # fmt: skip
    return rows


def by_collection(unit: Unit) -> dict[str, tuple[float, float]]:
    """Firestore reads and writes per unit, by collection (the prefix of the run removed)."""
    found: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, amount in unit.counts.items():
        for index, kind in enumerate(("firestore.reads:", "firestore.writes:")):
            if key.startswith(kind):
                found[key.removeprefix(kind)][index] += amount / unit.count
    return {name: (reads, writes) for name, (reads, writes) in sorted(found.items())}


def print_report(units: list[Unit], peaks: dict[str, int]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    print("\nPer unit (each column per image, per command or per saga)\n")
    head: tuple[str, ...] = ("unit", "fns", "CPU ms", "x base", "FS r", "FS w", "tx", "retry", "PS pub", "PS dlv",
            "PS kB billed", "GCS A", "GCS B")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for unit in units:
        u = per_unit(unit)
        report[unit.name] = {
            "per_unit": u,
            "per_function": per_function(unit, peaks),
            "firestore_by_collection": by_collection(unit),
        }
        cells = (unit.name, f"{u['functions']:.1f}", f"{u['cpu_ms']:.1f}", f"{u['vs_baseline']:.1f}",
                 f"{u['fs_reads']:.1f}", f"{u['fs_writes']:.1f}", f"{u['fs_tx']:.1f}",
                 f"{u['fs_retries']:.2f}", f"{u['ps_published']:.1f}", f"{u['ps_deliveries']:.1f}",
                 f"{u['ps_billed_kb']:.1f}", f"{u['gcs_a']:.2f}", f"{u['gcs_b']:.2f}")  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print("\nBaselines: pydicom read+write per image (CT "
          f"{units[0].baseline * 1000:.2f} ms, US {units[1].baseline * 1000:.2f} ms); "
          f"a no-op Pub/Sub push {units[3].baseline * 1000:.3f} ms")  # fmt: skip
    for unit in units:
        print(f"\n{unit.name}: per function\n")
        head = ("function", "calls/unit", "CPU ms/call", "peak MiB", "FS r", "FS w", "FS q",
                "pub", "GCS A", "GCS B")  # fmt: skip
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in report[unit.name]["per_function"]:
            print(
                f"| {row['function']} | {row['calls_per_unit']:.2f} | "
                f"{row['cpu_ms_per_call']:.2f} | {row['peak_mib']:.1f} | "
                f"{row['fs_reads_per_call']:.1f} | {row['fs_writes_per_call']:.1f} | "
                f"{row['fs_queries_per_call']:.1f} | {row['published_per_call']:.1f} | "
                f"{row['gcs_a_per_call']:.1f} | {row['gcs_b_per_call']:.1f} |"
            )
        operations = {
            k: v / unit.count for k, v in sorted(unit.counts.items()) if k.startswith("gcs.")
        }
        report[unit.name]["gcs"] = operations
        print("\nGCS per unit: " + ", ".join(f"{k[4:]} {v:.2f}" for k, v in operations.items()))
        collections = report[unit.name]["firestore_by_collection"]
        print("\nFirestore reads / writes per unit by collection: " + ", ".join(
            f"{name} {reads:.1f}/{writes:.1f}" for name, (reads, writes) in collections.items()
        ))  # fmt: skip
    return report


def warm_up(world: World) -> None:
    """One of each unit, not counted: first calls import modules and load the OCR model."""
    for kind in ("ct", "ultrasound_ocr", "zip_entry"):
        run_images(world, kind, images_of(kind, 2, 2))
    subscribe(world, "BASIC", 0)
    subscribe(world, "PRO", 0)
    world.meter.take()


def calls_of(unit: Unit) -> list[Call]:
    """Each function's average call during the unit, and how many calls a unit makes."""
    found = []
    for name, used in unit.usage.items():
        per_call = {k: v / used.calls for k, v in used.counts.items()}
        found.append(Call(name, used.calls / unit.count, used.cpu / used.calls, per_call))
    return found


def print_model(units: list[Unit], load: Load, latency: Latency) -> dict[str, Any]:
    """The price of each unit and of a day, then each function's size at the busiest hour."""
    peak: dict[str, float] = defaultdict(float)  # calls per second, by function
    cpu: dict[str, float] = defaultdict(float)
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for unit in units:
        per_second = load.per_day(unit.name) / 86_400 * load.peak_factor
        for call in calls_of(unit):
            # A function's average call at the peak: its calls in each unit, by their rate.
            rate = per_second * call.calls
            peak[call.name] += rate
            cpu[call.name] += rate * call.cpu
            for key, value in call.counts.items():
                counts[call.name][key] += rate * value
    calls = {
        name: Call(name, 1.0, cpu[name] / rate, {k: v / rate for k, v in counts[name].items()})
        for name, rate in peak.items()
    }
    print("\nPrice per unit (USD), and per day at the load (" f"{load.images_per_day:,.0f} images "
          f"as {load.image_mix}, {load.sagas_per_day:,.0f} sagas, {load.commands_per_day:,.0f} "
          "BASIC commands a day)\n")  # fmt: skip
    head: tuple[str, ...] = (
        "unit",
        "functions",
        "Firestore",
        "Pub/Sub",
        "GCS ops",
        "total",
        "units/day",
        "per day",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    model: dict[str, Any] = {"units": {}, "functions": {}}
    day = 0.0
    for unit in units:
        per_unit_counts = {k: v / unit.count for k, v in unit.counts.items()}
        cost = unit_cost(calls_of(unit), per_unit_counts, peak, TOPOLOGY, latency)
        per_day = load.per_day(unit.name)
        day += cost.total * per_day
        model["units"][unit.name] = {**cost.__dict__, "total": cost.total, "per_day": per_day}
        print(f"| {unit.name} | {cost.compute:.3g} | {cost.firestore:.3g} | {cost.pubsub:.3g} | "
              f"{cost.gcs:.3g} | {cost.total:.3g} | {per_day:,.0f} | {cost.total * per_day:,.2f} |")  # fmt: skip
    print(f"\nA day: {day:,.2f} USD, {day * 30:,.0f} USD a month (storage apart)")
    print("\nSize of each function at the busiest hour (model: docs/capacity.md)\n")
    head = ("function", "peak/s", "compute ms", "wall ms", "in flight", "cpu", "concurrency",
            "instances needed", "max (topology)", "max suggested")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in sorted(
        peak, key=lambda n: -peak[n] * calls[n].wall(latency, capacity_of(TOPOLOGY, n))
    ):
        capacity = capacity_of(TOPOLOGY, name)
        sized = size(calls[name], peak[name], capacity, latency)
        model["functions"][name] = {
            **sized.__dict__,
            "suggested_max": suggested_max_instances(sized),
        }
        print(f"| {name} | {sized.peak_per_second:.2f} | {sized.compute_ms:.1f} | "
              f"{sized.wall_ms:.0f} | {sized.in_flight:.2f} | {cpu_of(capacity):g} | "
              f"{capacity.concurrency} | {sized.instances:.2f} | {capacity.max_instances} | "
              f"{suggested_max_instances(sized)} |")  # fmt: skip
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20, help="images of each kind")
    parser.add_argument("--zip-entries", type=int, default=20, help="entries of the zip")
    parser.add_argument("--study-slices", type=int, default=10, help="CT slices per study")
    parser.add_argument("--commands", type=int, default=20)
    parser.add_argument("--sagas", type=int, default=5)
    parser.add_argument("--experts", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    args = parser.parse_args()
    configure_logging("WARNING")
    with MailSink() as sink:
        world = World(sink)
        try:
            register_experts(world, args.experts)
            warm_up(world)
            units = measure(args, world, traced=False)
            traced = measure(args, world, traced=True)
        finally:
            bootstrap.use(None)
    peaks: dict[str, int] = {}
    for unit in traced:
        for name, used in unit.usage.items():
            peaks[name] = max(peaks.get(name, 0), used.peak)
    report = print_report(units, peaks)
    report["model"] = print_model(units, Load(), Latency())
    if world.failures:
        print(
            f"\nFunctions that answered an error (redelivered in the cloud): {dict(world.failures)}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
