"""Files/s of the archive backfill on Beam's DirectRunner beside `saludtech-deid`, same files,
same number of workers, same run.

  saludtech-deid      `saludtech-deid <folder> <out> --workers N`: de-identification into a
                      folder, nothing else (the baseline)
  saludtech-backfill  `saludtech-backfill <folder> --workers N` (DirectRunner,
                      multi_processing, --worker-threads T): the same engine through the ingestion service, each
                      output stored in fake-gcs, catalogued in the Firestore emulator and
                      announced on the Pub/Sub emulator of a local stack started here

Both run as the commands an operator runs (a subprocess each: interpreter start, imports,
for Beam its job service and worker processes). Each round gives both tools the same fresh
files (new UIDs, so the backfill anonymizes rather than finds them catalogued), alternating
which goes first; the best round of each is kept. A one-file run of each tool gives its fixed
cost (after a warm-up run), and "steady" its rate once started:
(files - 1) / (time(files) - time(1 file)).

The stack's own functions consume the backfill's events meanwhile (as they would in the
cloud), on the same cores: the ratio includes that.

    python benchmarks/deid_backfill.py [--files 200] [--workers 2] [--rounds 2] [--rows 256]
                                       [--worker-threads 4]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from benchmarks.support import bench_stack  # noqa: E402
from infra.local.stack import LocalStack  # noqa: E402
from infra.samples.synthetic_dicom import make_study  # noqa: E402

BIN = Path(sys.executable).parent
TOOLS = ("saludtech-deid", "saludtech-backfill")


def write_corpus(folder: Path, count: int, rows: int, seed: int) -> None:
    """`count` single-frame CT images, 10 per patient, planted PHI everywhere."""
    folder.mkdir(parents=True)
    written = 0
    while written < count:
        seed += 1
        for ds in make_study(
            patient_name=f"PATIENT{seed:06d}^BENCH", n_series=1, n_instances=10,
            with_sr=False, rows=rows, cols=rows, seed=seed,
        ):  # fmt: skip
            if written == count:
                break
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            (folder / f"{written:05d}.dcm").write_bytes(buffer.getvalue())
            written += 1


def catalogued(stack: LocalStack, center: str) -> int:
    base = f"{stack.functions_url}/ingestion_queries_http/images"
    found, cursor = 0, None
    while True:
        params = {"center": center, "limit": "100", **({"cursor": cursor} if cursor else {})}
        page = requests.get(base, params=params, timeout=30).json()
        found += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{Path(command[0]).name} failed:\n{done.stderr[-3000:]}")
    return elapsed


def run_tool(
    tool: str, stack: LocalStack, root: Path, count: int, args: argparse.Namespace, seed: int
) -> float:
    """Seconds for `tool` over `count` fresh files (checked: every one de-identified)."""
    center = f"bench-{uuid.uuid4().hex[:8]}"
    folder = root / uuid.uuid4().hex / center
    write_corpus(folder, count, args.rows, seed)
    if tool == "saludtech-deid":
        out = root / uuid.uuid4().hex
        return timed(
            [str(BIN / tool), str(folder), str(out), "--center", center,
             "--workers", str(args.workers)]
        )  # fmt: skip
    dead = root / uuid.uuid4().hex / "dead"
    elapsed = timed(
        [str(BIN / tool), str(folder), "--center", center, "--dead-letter", str(dead),
         "--workers", str(args.workers), "--worker-threads", str(args.worker_threads)]
    )  # fmt: skip
    if (found := catalogued(stack, center)) != count:
        raise SystemExit(f"the backfill catalogued {found} of {count} files")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=256, help="image size (rows = columns)")
    parser.add_argument("--worker-threads", type=int, default=4, help="the backfill's, per worker")
    args = parser.parse_args()
    best: dict[str, float] = {}
    fixed: dict[str, float] = {}
    with bench_stack() as stack, tempfile.TemporaryDirectory() as scratch:
        # The CLI reads the same key as the functions do: the stack's (development) key.
        os.environ.setdefault("SALUDTECH_HMAC_KEY", "local-development-hmac-key-not-for-production")
        root = Path(scratch)
        seed = 0

        def one(tool: str, count: int) -> float:
            nonlocal seed
            seed += 1000 + count
            return run_tool(tool, stack, root, count, args, seed)

        for tool in TOOLS:  # warm-up (first clients, first records): not kept
            one(tool, 1)
        for round_ in range(args.rounds):
            for tool in TOOLS if round_ % 2 == 0 else TOOLS[::-1]:
                alone = one(tool, 1)
                fixed[tool] = min(fixed.get(tool, alone), alone)
                elapsed = one(tool, args.files)
                best[tool] = min(best.get(tool, elapsed), elapsed)
                print(f"round {round_ + 1}: {tool:20} {args.files / elapsed:8.1f} files/s"
                      f" ({elapsed:.1f} s; 1 file: {alone:.1f} s)")  # fmt: skip
    print(
        f"\n{args.files} single-frame {args.rows}x{args.rows} CT files, {args.workers} workers"
        f" (backfill: {args.worker_threads} threads each), {os.cpu_count()} cores,"
        f" best of {args.rounds} rounds"
    )
    print(f"{'':20}{'files/s':>10}{'ratio':>8}{'1 file s':>10}{'steady/s':>10}{'ratio':>8}")
    rate = {t: args.files / best[t] for t in TOOLS}
    # Once started: the files beyond the first over the time beyond a one-file run.
    steady = {t: (args.files - 1) / (best[t] - fixed[t]) for t in TOOLS if best[t] > fixed[t]}
    base = TOOLS[0]
    for tool in TOOLS:
        cells = f"{tool:20}{rate[tool]:>10.1f}{rate[tool] / rate[base]:>8.2f}{fixed[tool]:>10.1f}"
        if tool in steady and base in steady:
            cells += f"{steady[tool]:>10.1f}{steady[tool] / steady[base]:>8.2f}"
        print(cells)
    print(f"\nbackfill / deid, files/s, same files, {args.workers} workers: "
          f"{rate[TOOLS[1]] / rate[base]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
