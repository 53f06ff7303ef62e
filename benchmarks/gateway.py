"""The edge gateway (gateway/, docs/gateway.md): throughput to "catalogued" beside a plain
C-STORE sink, the two upload groupings, and the gateway's peak memory on a large study.

1. Throughput, on a throwaway local stack (rate limits raised so nothing is refused, but
   every request still counted; `--default-limits` keeps a center account's limits): a PACS (pynetdicom) sends a study of `--instances` to
   `saludtech-gateway run` (a subprocess); timed from the first C-STORE to the moment
   `GET /v1/images` lists every instance, once per grouping ("instance": one signed URL and
   one PUT per instance; "study": one zip once the study is quiet, `--quiet` seconds).
   Beside it, in the same run: the same study sent by dcmtk's storescu (pynetdicom when
   storescu is missing) to a plain pynetdicom C-STORE SCP that only writes to disk; each
   gateway row is printed as a ratio to that sink. The gateway's own acknowledgement rate
   (spool + fsync) is printed too.
2. Memory: the gateway spools a study of `--spool-mib` MiB made of `--instance-kib` KiB
   instances generated on the fly, and uploads it (study grouping: zips of at most 1 GiB,
   streamed) to a stand-in of the api and the storage in this process that discards what it
   receives; the gateway's peak RSS (VmHWM) and its RSS when idle.

    .venv/bin/python -m benchmarks.gateway [--instances 100] [--quiet 1]
        [--groupings study instance] [--default-limits]
        [--spool-mib 2048] [--instance-kib 512] [--skip-throughput] [--skip-memory]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from benchmarks.support import bench_stack
from infra.samples.synthetic_dicom import make_study, write_study
from tests.support.pacs import PACS_AET, c_store, free_port, sink, storescu

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long benchmark passphrase"
LIMITS = {
    "SALUDTECH_API_QUERIES_PER_MINUTE": "1000000",
    "SALUDTECH_API_COMMANDS_PER_MINUTE": "1000000",
    "SALUDTECH_API_LOGIN_ATTEMPTS_PER_ACCOUNT": "1000000",
    "SALUDTECH_API_LOGIN_ATTEMPTS_PER_ADDRESS": "1000000",
}


# -- the gateway as a process ------------------------------------------------------------
def write_config(directory: Path, api: str, username: str, password: str, **upload: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "password").write_text(password)
    lines = [
        f'spool_dir = "{directory / "spool"}"', 'log_level = "WARNING"', "[scp]",
        f"port = {free_port()}", f'allowed_calling_aets = ["{PACS_AET}"]', "[platform]",
        f'api_url = "{api}"', f'username = "{username}"',
        f'password_file = "{directory / "password"}"', "[upload]",
        *(f"{key} = {json.dumps(value)}" for key, value in upload.items()),
    ]  # fmt: skip
    path = directory / "gateway.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_gateway(config: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)], cwd=ROOT
    )
    status = config.parent / "spool" / "status.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if status.exists() and json.loads(status.read_text()).get("pid") == process.pid:
            return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the gateway did not start")


def stop_gateway(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def port_of(config: Path) -> int:
    line = next(x for x in config.read_text().splitlines() if x.startswith("port = "))
    return int(line.split("=")[1])


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# -- 1. throughput -----------------------------------------------------------------------
def study(n: int) -> list[Dataset]:
    # A unique patient per run: the de-identified UIDs derive from the originals.
    return make_study(f"BENCH{uuid.uuid4().hex[:8]}^GW", n_series=1, n_instances=n, with_sr=False)


def images(api: str, auth: dict[str, str]) -> int:
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api}/v1/images", params=params, headers=auth, timeout=30).json()
        count += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return count


def through_gateway(
    api: str, work: Path, n: int, grouping: str, quiet: float, workers: int
) -> dict[str, float]:
    from functions.identity.messages import Role
    from tests.e2e.test_api_flow import PASSWORD as CENTER_PASSWORD
    from tests.e2e.test_api_flow import register

    username = register(Role.CENTER, f"bench-{uuid.uuid4().hex[:8]}")
    body = {"username": username, "password": CENTER_PASSWORD}
    answer = requests.post(f"{api}/v1/auth/login", json=body, timeout=30)
    auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    config = write_config(
        work, api, username, CENTER_PASSWORD, grouping=grouping, study_quiet_seconds=quiet,
        workers=workers, poll_seconds=0.1,
    )  # fmt: skip
    datasets = study(n)
    process = start_gateway(config)
    try:
        started = time.perf_counter()
        statuses = c_store(port_of(config), datasets)
        acked = time.perf_counter() - started
        assert statuses == [0] * n, statuses
        while images(api, auth) < n:
            if time.perf_counter() - started > 600:
                raise SystemExit(f"{grouping}: not all catalogued in 600 s")
            time.sleep(0.25)
        done = time.perf_counter() - started
    finally:
        stop_gateway(process)
    return {"acked_per_s": n / acked, "catalogued_per_s": n / done, "seconds": done}


def to_sink(work: Path, n: int) -> dict[str, float]:
    """The baseline: the same study to a C-STORE SCP that only writes to disk."""
    port = free_port()
    server = sink(work / "sink", port)
    rates = {}
    try:
        datasets = study(n)
        files = write_study(datasets, work / "pacs")
        started = time.perf_counter()
        c_store(port, datasets, called="SINK")
        rates["pynetdicom_to_sink_per_s"] = n / (time.perf_counter() - started)
        if shutil.which("storescu"):
            started = time.perf_counter()
            storescu(port, files, called="SINK")
            rates["storescu_to_sink_per_s"] = n / (time.perf_counter() - started)
    finally:
        server.shutdown()
    return rates


def throughput(n: int, quiet: float, groupings: list[str], limits: bool) -> None:
    raised = {} if limits else LIMITS
    with tempfile.TemporaryDirectory() as scratch, bench_stack(extra_env=raised) as stack:
        os.environ.update(raised)
        print("rate limits: " + ("the defaults (60 commands a minute per account)" if limits
                                 else "raised, nothing refused"))  # fmt: skip
        api = f"{stack.functions_url}/api_http"
        work = Path(scratch)
        baseline = to_sink(work / "sink", n)
        sink_rate = baseline.get("storescu_to_sink_per_s", baseline["pynetdicom_to_sink_per_s"])
        print(f"study of {n} instances ({study(1)[0].Rows}x{study(1)[0].Columns}, 16 bit)")
        for label, rate in baseline.items():
            print(f"  {label:<44} {rate:8.1f} instances/s")
        rows = [("study", quiet, 1), ("instance", 0.0, 1), ("instance", 0.0, 4)]
        for grouping, q, workers in [row for row in rows if row[0] in groupings]:
            result = through_gateway(api, work / f"{grouping}-{workers}", n, grouping, q, workers)
            label = f"gateway, {grouping}" + (f" (quiet {q:g} s)" if grouping == "study" else
                                              f" ({workers} uploader{'s' * (workers > 1)})")  # fmt: skip
            print(f"  {label + ': acknowledged':<44} {result['acked_per_s']:8.1f} instances/s"
                  f"  ({result['acked_per_s'] / sink_rate:.2f} x sink)")  # fmt: skip
            print(f"  {label + ': catalogued':<44} {result['catalogued_per_s']:8.1f} instances/s"
                  f"  ({result['catalogued_per_s'] / sink_rate:.3f} x sink,"
                  f" {result['seconds']:.1f} s)")  # fmt: skip


# -- 2. memory ---------------------------------------------------------------------------
class FakePlatform(BaseHTTPRequestHandler):
    """Login, upload grants and PUTs (bodies read in chunks and discarded)."""

    received = 0
    lock = threading.Lock()
    base_url = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/v1/uploads"):
            url = f"{FakePlatform.base_url}/put/{uuid.uuid4().hex}"
            self._answer(201, {"url": url, "headers": {"Content-Type": "application/zip"},
                               "object": "c/uploads/x", "expires_at": "-"})  # fmt: skip
        else:
            self._answer(200, {"access_token": "a", "refresh_token": "r", "expires_in": 600})

    def do_PUT(self) -> None:
        left = int(self.headers["Content-Length"])
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            left -= len(chunk)
            with FakePlatform.lock:
                FakePlatform.received += len(chunk)
        self._answer(200)


def large_instances(count: int, kib: int) -> Iterator[Dataset]:
    side = int((kib * 1024 / 2) ** 0.5)  # 16-bit pixels: 512 KiB is 512 x 512
    template = make_study("BIG^STUDY", n_series=1, n_instances=1, with_sr=False,
                          rows=side, cols=side)[0]  # fmt: skip
    for n in range(count):
        ds = copy.copy(template)  # shallow: the pixel bytes are shared, not copied
        ds.file_meta = copy.deepcopy(template.file_meta)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        yield ds


def memory(size_mib: int, kib: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    count = size_mib * 1024 // kib
    with tempfile.TemporaryDirectory() as scratch:
        api = f"http://127.0.0.1:{server.server_port}"
        FakePlatform.base_url = api
        config = write_config(Path(scratch), api, "bench", PASSWORD, study_quiet_seconds=2.0)
        process = start_gateway(config)
        try:
            idle = proc_kib(process.pid, "VmRSS")
            started = time.perf_counter()
            statuses = c_store(port_of(config), large_instances(count, kib))
            spooled = time.perf_counter() - started
            assert statuses == [0] * count, set(statuses)
            total = sum(p.stat().st_size for p in (Path(scratch) / "spool").rglob("*.dcm"))
            while FakePlatform.received < total:
                time.sleep(0.2)
            uploaded = time.perf_counter() - started
            peak = proc_kib(process.pid, "VmHWM")
        finally:
            stop_gateway(process)
            server.shutdown()
    print(f"memory: a study of {count} instances of {kib} KiB ({size_mib} MiB), spooled at "
          f"{size_mib / spooled:.0f} MiB/s ({count / spooled:.0f} instances/s), uploaded"
          f" (zips, streamed) {uploaded:.1f} s after the first C-STORE")  # fmt: skip
    print(f"  gateway RSS idle {idle / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB"
          f" (+{(peak - idle) / 1024:.0f} MiB for {size_mib} MiB spooled and sent)")  # fmt: skip


def main() -> None:
    import logging

    # The PACS's side: why an association ends early (pynetdicom's own logger, WARNING).
    logging.basicConfig(level=logging.WARNING, format="pacs %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--quiet", type=float, default=1.0)
    parser.add_argument("--spool-mib", type=int, default=2048)
    parser.add_argument("--instance-kib", type=int, default=512)
    parser.add_argument("--groupings", nargs="+", default=["study", "instance"])
    parser.add_argument(
        "--default-limits",
        action="store_true",
        help="keep the api's rate limits (what a center's account has)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; gateway, PACS and local stack on it together")
    if not args.skip_throughput:
        throughput(args.instances, args.quiet, args.groupings, args.default_limits)
    if not args.skip_memory:
        memory(args.spool_mib, args.instance_kib)


if __name__ == "__main__":
    main()
