"""Memory of the functions host for large inputs: peak RSS growth over idle, as a ratio.

Starts a throwaway local stack (emulators, fake-gcs-server, the functions host, the bridge),
warms the host up with one small image, then for each case samples the resident memory of
the functions host's process group (supervisor + functions-framework) every few
milliseconds while it works, and prints the peak growth over the idle RSS measured just
before the case, next to the growth of the case's baseline (a small input of the same kind,
measured in the same run). Numbers, never pass/fail.

Cases:
- a DICOM uploaded to the ingest bucket (5 MiB baseline, then --dicom-mib, default 500):
  read in ranges, de-identified, written to the anonymized bucket, catalogued;
- a chunked HTTP body POSTed to an HTTP function (5 MB baseline, then --http-mb, default
  300): what the door holds before it answers.

    .venv/bin/python -m benchmarks.memory [--dicom-mib 500] [--http-mb 300]
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.support import bench_stack  # noqa: E402
from infra.local.processes import rss_bytes  # noqa: E402
from infra.local.stack import LocalStack  # noqa: E402
from infra.samples.synthetic_dicom import make_study  # noqa: E402

MiB = 1024 * 1024
SAMPLE_SECONDS = 0.005
_CHUNK = 4 * MiB


class PeakRss:
    """Samples the RSS of a process group in a thread; `peak` is the highest seen."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.peak = rss_bytes(pgid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pgid))
            time.sleep(SAMPLE_SECONDS)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def write_dicom(path: Path, pixel_bytes: int, seed: int) -> int:
    """A CT image with planted PHI whose Pixel Data is `pixel_bytes` long, written to disk
    in chunks (the benchmark itself never holds the pixels). Returns the file size."""
    [ds] = make_study(n_series=1, n_instances=1, with_sr=False, seed=seed, rows=8, cols=8)
    columns = 4096
    rows = max(1, pixel_bytes // (columns * 2))
    ds.Rows, ds.Columns = rows, columns
    del ds.PixelData
    header = io.BytesIO()
    ds.save_as(header, enforce_file_format=True)
    length = rows * columns * 2
    with path.open("wb") as out:
        out.write(header.getvalue())
        # (7FE0,0010) OW, explicit VR little endian: tag, VR, 2 reserved bytes, 4-byte length.
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length))
        pattern = bytes(range(256)) * (_CHUNK // 256)
        left = length
        while left > 0:
            out.write(pattern[: min(left, len(pattern))])
            left -= min(left, len(pattern))
    return path.stat().st_size


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def ingest_case(stack: LocalStack, path: Path, timeout: float) -> dict[str, float]:
    """Upload `path` and measure the host until the original leaves the ingest bucket and
    the image is in the anonymized bucket."""
    from google.cloud import storage  # type: ignore[attr-defined]

    client = storage.Client(project=stack.project_id)
    center = f"bench-{uuid.uuid4().hex[:8]}"
    ingest = client.bucket(stack.bucket("ingest"))
    anonymized = client.bucket(stack.bucket("anonymized"))
    before = len(list(client.list_blobs(anonymized)))
    pgid = stack.processes["functions"].pgid
    idle = rss_bytes(pgid)
    started = time.monotonic()
    with PeakRss(pgid) as rss:
        blob = ingest.blob(f"{center}/image.dcm")
        blob.chunk_size = 8 * MiB
        blob.upload_from_filename(str(path), content_type="application/dicom")
        finished = wait_until(
            lambda: not list(client.list_blobs(ingest, prefix=f"{center}/")), timeout
        )
    stored = len(list(client.list_blobs(anonymized))) > before
    return {
        "idle_mb": idle / 1e6,
        "peak_mb": rss.peak / 1e6,
        "growth_mb": (rss.peak - idle) / 1e6,
        "seconds": time.monotonic() - started,
        "done": float(finished and stored),
    }


def http_case(stack: LocalStack, size: int) -> dict[str, float]:
    """POST `size` bytes as a chunked body (no Content-Length) to an HTTP function."""
    import requests

    def body() -> Iterator[bytes]:
        chunk = b'{"padding": "' + b"x" * (_CHUNK - 16)
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            sent += len(part)
            yield part

    pgid = stack.processes["functions"].pgid
    idle = rss_bytes(pgid)
    started = time.monotonic()
    with PeakRss(pgid) as rss:
        try:
            answer = requests.post(
                f"{stack.functions_url}/subscriptions_commands_http/subscriptions",
                data=body(), headers={"Content-Type": "application/json"}, timeout=600,
            )  # fmt: skip
            status = answer.status_code
        except requests.RequestException:
            status = 0  # the door closed the connection before reading it all
    return {
        "idle_mb": idle / 1e6,
        "peak_mb": rss.peak / 1e6,
        "growth_mb": (rss.peak - idle) / 1e6,
        "seconds": time.monotonic() - started,
        "status": float(status),
    }


def row(label: str, result: dict[str, float], baseline: dict[str, float]) -> str:
    ratio = result["growth_mb"] / max(baseline["growth_mb"], 1.0)
    extra = f"HTTP {int(result['status'])}" if "status" in result else (
        "ingested" if result["done"] else "NOT FINISHED"
    )  # fmt: skip
    return (
        f"{label:34}{result['idle_mb']:>9.0f}{result['peak_mb']:>9.0f}"
        f"{result['growth_mb']:>10.0f}{ratio:>12.1f}x{result['seconds']:>9.1f}  {extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dicom-mib", type=int, default=500)
    parser.add_argument("--baseline-mib", type=int, default=5)
    parser.add_argument("--http-mb", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, bench_stack() as stack:
        warm, small = Path(scratch) / "warm.dcm", Path(scratch) / "small.dcm"
        large = Path(scratch) / "large.dcm"
        # Three images (seeds): the same file twice would be a no-op the second time.
        write_dicom(warm, args.baseline_mib * MiB, seed=1)
        small_size = write_dicom(small, args.baseline_mib * MiB, seed=2)
        large_size = write_dicom(large, args.dicom_mib * MiB, seed=3)
        ingest_case(stack, warm, args.timeout)  # warm-up: modules, engine, clients
        http_case(stack, 1024)
        print("functions host RSS (MB), peak during the case, growth over idle before it;")
        print("ratio = growth / growth of the baseline of the same kind, same run\n")
        print(f"{'case':34}{'idle':>9}{'peak':>9}{'growth':>10}{'ratio':>13}{'s':>9}")
        base = ingest_case(stack, small, args.timeout)
        print(row(f"DICOM {small_size / MiB:.0f} MiB (baseline)", base, base))
        big = ingest_case(stack, large, args.timeout)
        print(row(f"DICOM {large_size / MiB:.0f} MiB", big, base))
        http_base = http_case(stack, args.baseline_mib * 1_000_000)
        print(row(f"HTTP chunked {args.baseline_mib} MB (baseline)", http_base, http_base))
        http_big = http_case(stack, args.http_mb * 1_000_000)
        print(row(f"HTTP chunked {args.http_mb} MB", http_big, http_base))


if __name__ == "__main__":
    main()
