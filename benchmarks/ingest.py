"""Files per second and latency, GCS upload → ImageAnonymized, beside the stack's raw
GCS delivery rate and the engine's own in-process rate, measured in the same run.

One after the other so they never compete for the CPU:

- engine: the de-identification engine alone, in this process, bytes in, bytes out.
- raw: objects uploaded to a bucket with a finalize notification, delivered by the bridge
  (our Eventarc) to a function that does nothing (tests/support/probe_functions.py:probe_gcs).
  The ceiling of any GCS-triggered function on the local stack.
- pipeline: the same uploads into `<prefix>-ingest/<center>/`, each read, de-identified,
  stored create-only, catalogued in a Firestore transaction and announced; the
  ImageAnonymized event observed on ingestion-events.

Each stack run is a burst (N uploads from 8 threads, for throughput) and one at a time (for
latency without queueing). Goals (issue 23): a burst at half the raw rate or more, one at a
time a p95 within 2x of raw's.

    .venv/bin/python benchmarks/ingest.py [--count 300] [--sequential 50] [--rows 256]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
from infra.samples.synthetic_dicom import make_study  # noqa: E402


def corpus(count: int, rows: int) -> list[bytes]:
    """Single-frame CT images of 10 images per patient, planted PHI everywhere."""
    files: list[bytes] = []
    seed = 0
    while len(files) < count:
        seed += 1
        for ds in make_study(
            patient_name=f"PATIENT{seed:04d}^BENCH", n_series=1, n_instances=10,
            with_sr=False, rows=rows, cols=rows, seed=seed,
        ):  # fmt: skip
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            files.append(buffer.getvalue())
    return files[:count]


def summary(latencies_ms: list[float], count: int, elapsed: float) -> dict[str, float]:
    return {
        "count": count,
        "per_second": count / elapsed,
        "p50_ms": percentile(latencies_ms, 0.50),
        "p95_ms": percentile(latencies_ms, 0.95),
        "mean_ms": statistics.fmean(latencies_ms),
    }


def engine(files: list[bytes]) -> dict[str, float]:
    from functions.ingestion.deid import Deidentifier

    deid = Deidentifier(key=b"benchmark-key-0123456789abcdef")
    for data in files[:10]:  # warm caches
        deid.deidentify(data, center_id="bench", output=io.BytesIO())
    latencies = []
    started = time.perf_counter()
    for data in files:
        at = time.perf_counter()
        result = deid.deidentify(data, center_id="bench", output=io.BytesIO())
        assert result.ok, result.reason
        latencies.append((time.perf_counter() - at) * 1000)
    return summary(latencies, len(files), time.perf_counter() - started)


def upload_all(
    bucket: Any, names: list[str], files: list[bytes], workers: int, wait: Any
) -> tuple[list[tuple[str, float]], float]:
    """Upload every file; returns (key, sent_at) per file and when the first was sent."""
    local = threading.local()

    def send(index: int) -> tuple[str, float]:
        if not hasattr(local, "bucket"):
            from google.cloud import storage  # type: ignore[attr-defined]

            local.bucket = storage.Client(project=bucket.client.project).bucket(bucket.name)
        blob = local.bucket.blob(names[index])
        at = time.perf_counter()
        blob.upload_from_string(files[index], content_type="application/dicom")
        return wait.key_of(blob), at

    started = time.perf_counter()
    if workers == 1:
        sent = []
        for index in range(len(files)):
            sent.append(send(index))
            wait.until({sent[-1][0]}, timeout=30)
    else:
        with ThreadPoolExecutor(workers) as pool:
            sent = list(pool.map(send, range(len(files))))
    return sent, started


class BridgeAcks:
    """Arrival = the bridge's 2xx from the no-op function (raw delivery). One at a time,
    each arrival's time is kept (`arrived`), as the pipeline's are: the bridge's own
    latency counts from the notification's publish, and over the whole run."""

    def __init__(self, stack: LocalStack, subscription: str) -> None:
        self._url, self._name = f"{stack.bridge_url}/stats", subscription
        self._http = requests.Session()
        self.base = self.acked()
        self.arrived: list[float] = []

    def acked(self) -> int:
        return int(self._http.get(self._url, timeout=5).json()[self._name]["acked"])

    def key_of(self, blob: Any) -> str:
        return str(blob.name)

    def until(self, keys: set[str], timeout: float) -> None:
        target = self.base + 1
        deadline = time.monotonic() + timeout
        while self.acked() < target and time.monotonic() < deadline:
            time.sleep(0.0005)
        self.arrived.append(time.perf_counter())
        self.base = target


def raw_delivery(files: list[bytes], sequential: int) -> dict[str, dict[str, float]]:
    with bench_stack(probes=True) as stack:
        from google.cloud import storage  # type: ignore[attr-defined]

        bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("drop"))
        results = {}
        for label, chosen, workers in (
            ("burst", files, 8), ("one at a time", files[:sequential], 1)
        ):  # fmt: skip
            acks = BridgeAcks(stack, "trigger-probe-gcs")
            names = [f"c/{uuid.uuid4().hex}.dcm" for _ in chosen]
            cpu_before = cpu_seconds(stack)
            sent, started = upload_all(bucket, names, chosen, workers, acks)
            deadline = time.monotonic() + 120
            while acks.acked() < acks.base + (len(chosen) if workers > 1 else 0):
                if time.monotonic() > deadline:
                    raise SystemExit("raw deliveries did not all arrive")
                time.sleep(0.002)
            elapsed = time.perf_counter() - started
            if workers == 1:  # from the upload's start, as the pipeline's
                latencies = [(at - s) * 1000 for at, (_, s) in zip(acks.arrived, sent, strict=True)]
                results[label] = summary(latencies, len(chosen), elapsed)
            else:  # per file unknown: the bridge's, from each notification's publish
                stats = requests.get(f"{stack.bridge_url}/stats", timeout=5).json()
                latency = stats["trigger-probe-gcs"]["latency_ms"]
                results[label] = {
                    "count": len(chosen), "per_second": len(chosen) / elapsed,
                    "p50_ms": latency["p50"], "p95_ms": latency["p95"], "mean_ms": latency["p50"],
                }  # fmt: skip
            if label == "burst":
                CPU["raw GCS delivery"] = cpu_per_message(
                    cpu_before, cpu_seconds(stack), len(chosen)
                )
        return results


CPU: dict[str, dict[str, float]] = {}  # run -> part -> CPU ms per file, during the burst


class EventArrivals:
    """Arrival = the ImageAnonymized event on ingestion-events, keyed by the upload's id."""

    def __init__(self, stack: LocalStack) -> None:
        self.arrivals = Arrivals(
            stack.project_id, "ingestion-events",
            key=lambda m: m.attributes.get("ce-correlationid", ""),
        )  # fmt: skip

    def key_of(self, blob: Any) -> str:
        from functions.ingestion.domain import Upload

        return Upload(blob.bucket.name, blob.name, int(blob.generation), 0).unit_id

    def until(self, keys: set[str], timeout: float) -> None:
        self.arrivals.wait(keys, timeout)


def pipeline(files: list[bytes], sequential: int) -> dict[str, dict[str, float]]:
    with bench_stack() as stack:
        from google.cloud import storage  # type: ignore[attr-defined]

        bucket = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
        events = EventArrivals(stack)
        results = {}
        try:
            warm = [f"warm/{uuid.uuid4().hex}.dcm" for _ in range(10)]
            upload_all(bucket, warm, files[:10], 1, events)  # warm the function instance
            for label, chosen, workers in (
                ("burst", files, 8), ("one at a time", files[:sequential], 1)
            ):  # fmt: skip
                center = f"center-{uuid.uuid4().hex[:6]}"
                names = [f"{center}/{n:05d}.dcm" for n in range(len(chosen))]
                cpu_before = cpu_seconds(stack)
                sent, started = upload_all(bucket, names, chosen, workers, events)
                if not events.arrivals.wait({key for key, _ in sent}, timeout=300):
                    raise SystemExit("not every image was announced within the time limit")
                if label == "burst":
                    CPU["ingestion"] = cpu_per_message(cpu_before, cpu_seconds(stack), len(chosen))
                seen = events.arrivals.seen
                latencies = [(seen[key] - at) * 1000 for key, at in sent]
                finished = max(seen[key] for key, _ in sent)
                results[label] = summary(latencies, len(chosen), finished - started)
        finally:
            events.arrivals.close()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--sequential", type=int, default=50)
    parser.add_argument("--rows", type=int, default=256, help="image size (rows = columns)")
    args = parser.parse_args()
    files = corpus(args.count, args.rows)
    size = statistics.fmean(len(f) for f in files) / 1024
    print(f"{len(files)} single-frame images of {args.rows}x{args.rows}, {size:.0f} KiB each")
    alone = engine(files)
    raw = raw_delivery(files, args.sequential)
    ours = pipeline(files, args.sequential)
    print(f"\n{'':38}{'files/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'rate ÷ raw':>12}"
          f"{'p95 ÷ raw':>11}")  # fmt: skip
    print(f"{'engine alone (in process)':38}{alone['per_second']:>10.1f}"
          f"{alone['p50_ms']:>10.1f}{alone['p95_ms']:>10.1f}{'':>10}")  # fmt: skip
    for mode in ("burst", "one at a time"):
        for label, result in (("raw GCS delivery", raw[mode]), ("ingestion", ours[mode])):
            ratio = result["per_second"] / raw[mode]["per_second"]
            slower = result["p95_ms"] / raw[mode]["p95_ms"]
            print(
                f"{label + f' ({mode})':38}{result['per_second']:>10.1f}"
                f"{result['p50_ms']:>10.1f}{result['p95_ms']:>10.1f}{ratio:>12.0%}{slower:>10.1f}x"
            )
    parts = list(CPU["ingestion"])
    print(f"\nCPU ms per file during the burst (where the time goes, {os.cpu_count()} cores)")
    print(f"{'':20}" + "".join(f"{part[:11]:>12}" for part in parts) + f"{'total':>10}")
    for run, used in CPU.items():
        cells = "".join(f"{used.get(part, 0.0):>12.1f}" for part in parts)
        print(f"{run:20}{cells}{sum(used.values()):>10.1f}")


if __name__ == "__main__":
    main()
