"""De-identification speed as a user gets it: the CLI against peers, same files, one run.

Every tool goes through the same folder of files, reading from disk and writing every
output to disk, with the same number of worker processes, each in its own subprocess:

  cli            `saludtech-deid CORPUS OUT --center bench --workers N` (what a user runs;
                 screening on: the pixel screen decides which images go to OCR)
  cli-no-screen  the same with `--no-pixel-screen` (every image needing a text check: OCR)
  dicognito      dicognito.Anonymizer on pydicom datasets        (requirements-bench.txt)
  pydicom        plain pydicom dcmread + save_as: the baseline, no de-identification
  dcmanon        dcmanon.Anonymizer (Rust)                        (requirements-bench.txt)

MB/s is the corpus size over the wall time of the subprocess (start-up included, as a user
waits for it); "CPU" uses the CPU seconds of the subprocess and all its workers, which
stays meaningful on a busy shared machine. Everything is printed as a ratio to pydicom and
to dicognito measured in the same run; rounds are interleaved (tool after tool) and each
tool's best round is kept, so every tool sees the same machine load.

Corpus, like the archives of the issue: CT (512x512) and MR (256x256) series without a
Burned In Annotation flag, a few slices with scanner text in the corners
(infra/samples/burned_in.py), and the same kinds of text-free slices flagged NO (header
work only: the baseline of "text-free CT/MR within 2x of header-only"); ultrasound and
secondary captures with and without burned-in text, some multi-frame; synthetic studies
full of planted header PHI with their structured reports (infra/samples/synthetic_dicom.py); pydicom's test files and pydicom-data (package
``data_store``), read from disk, never downloaded (they share SOP Instance UIDs, so the CLI
must write both and report clashes). Then the pixel screen's recall against the OCR, from
``benchmarks/deid_screen.py`` when it exists.

    python -m benchmarks.deid [--slices 16] [--patients 4] [--repeat 1] [--workers 2]

The CLI's report gives each input's own seconds: the time per part of the corpus is
printed too, screening on and off.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLI_TOOLS = ("cli", "cli-no-screen")
PEERS = ("dicognito", "pydicom", "dcmanon")
PEER_MODULE = {"dicognito": "dicognito", "dcmanon": "dcmanon"}
BENCH_KEY_HEX = "62656e63686d61726b2d6b65792d6e6f742d612d7365637265742d3031323334"


# -- corpus ------------------------------------------------------------------------------------
def pydicom_files() -> list[Path]:
    import pydicom

    base = Path(pydicom.__file__).parent / "data" / "test_files"
    files = [p for p in base.rglob("*") if p.is_file()]
    spec = importlib.util.find_spec("data_store")  # pydicom-data, if installed
    if spec is not None and spec.origin:
        files += [p for p in (Path(spec.origin).parent / "data").glob("*") if p.is_file()]
    return sorted(files)


def _tomo_series(directory: Path, slices: int, seed: int) -> None:
    """Two CT and two MR series, flag absent; one slice in four has scanner text."""
    from infra.samples.burned_in import make_tomo_case

    number = 70_000 + seed * 1000
    for kind, size in (("ct", 512), ("mr", 256)):
        for series in range(2):
            folder = directory / f"{kind}-series-{series}"
            folder.mkdir(parents=True)
            for index in range(slices):
                number += 1
                case = make_tomo_case(
                    number, kind=kind, with_text=index % 4 == 0, rows=size, cols=size
                )
                # Whether text was planted ("text"/"notext"), for the timings and misses.
                content = "text" if index % 4 == 0 else "notext"
                (folder / f"IM{index:04d}-{content}.dcm").write_bytes(case.data)


def _header_only_series(directory: Path, slices: int, seed: int) -> None:
    """The same kinds of text-free slices with a trusted NO flag: no pixel work at all,
    the "header-only" baseline of the text-free CT/MR goal."""
    from infra.samples.burned_in import make_tomo_case

    number = 90_000 + seed * 1000
    for kind, size in (("ct", 512), ("mr", 256)):
        folder = directory / f"{kind}-series-flag-no"
        folder.mkdir(parents=True)
        for index in range(slices):
            number += 1
            case = make_tomo_case(
                number, kind=kind, with_text=False, flag="NO", rows=size, cols=size
            )
            (folder / f"IM{index:04d}-notext.dcm").write_bytes(case.data)


def _captures(directory: Path, seed: int) -> None:
    """Ultrasound and secondary captures: text or none, flags YES / NO / absent, cines."""
    from infra.samples.burned_in import make_case

    number = 80_000 + seed * 1000
    folder = directory / "us-sc"
    folder.mkdir(parents=True)
    for kind in ("ultrasound", "screenshot"):
        for flag in ("YES", "NO", None):
            for with_text in (True, False):
                number += 1
                case = make_case(number, kind=kind, flag=flag, with_text=with_text)
                (folder / f"{case.label}.dcm").write_bytes(case.data)
        number += 1
        cine = make_case(number, kind=kind, flag="NO", frames=6)
        (folder / f"{cine.label}.dcm").write_bytes(cine.data)


def build_corpus(directory: Path, slices: int, patients: int) -> list[Path]:
    from infra.samples.synthetic_dicom import make_study, write_study

    for n, path in enumerate(pydicom_files()):
        target = directory / "pydicom" / f"{n:04d}-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    _tomo_series(directory / "tomo", slices, seed=0)
    _header_only_series(directory / "tomo-no", slices, seed=0)
    _captures(directory, seed=0)
    for p in range(patients):
        study = make_study(
            patient_name=f"PATIENT{p:03d}^TEST",
            n_series=2,
            n_instances=4,
            modality="CT" if p % 2 else "MR",
            rows=256,
            cols=256,
            seed=2000 + p,
        )  # flag NO (a trusted no): header work, plus their SR
        write_study(study, directory / "studies" / f"p{p:03d}")
    return sorted(p for p in directory.rglob("*") if p.is_file())


# -- measuring one tool --------------------------------------------------------------------------
@dataclass
class Measure:
    tool: str
    seconds: float
    cpu: float
    outcomes: dict[str, int] = field(default_factory=dict)
    # CLI only: worker seconds and inputs per part of the corpus (from the report).
    parts: dict[str, tuple[float, int]] = field(default_factory=dict)


def part(source: str) -> str:
    """The part of the corpus an input belongs to, for the time breakdown."""
    top = source.split("/", 1)[0]
    if top == "tomo":
        return "CT/MR with text" if source.endswith("-text.dcm") else "CT/MR text-free"
    return {
        "tomo-no": "CT/MR flag NO",
        "pydicom": "pydicom test files",
        "us-sc": "US and SC",
        "studies": "studies + SR (flag NO)",
    }.get(top, top)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of a subprocess and everything it waited for."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the CLI quarantined or refused some inputs
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {_tail(done)}")
    return seconds, _children_cpu() - cpu, done.stdout


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])


def cli_command() -> list[str]:
    """The installed `saludtech-deid`, as a user runs it (else the same CLI through -m)."""
    script = Path(sys.executable).parent / "saludtech-deid"
    return [str(script)] if script.exists() else [sys.executable, "-m", "functions.ingestion.deid"]


def run_cli(tool: str, corpus: Path, work: Path, workers: int) -> Measure:
    out, report = work / f"out-{tool}", work / f"report-{tool}.jsonl"
    shutil.rmtree(out, ignore_errors=True)
    command = [*cli_command(), str(corpus), str(out), "--center", "bench", "--quiet"]
    command += ["--workers", str(workers), "--report", str(report)]
    if tool == "cli-no-screen":
        command.append("--no-pixel-screen")
    env = {**os.environ, "SALUDTECH_HMAC_KEY": BENCH_KEY_HEX}
    seconds, cpu, _ = _timed(command, env)
    if not report.exists():  # a crash also exits 1, like "some inputs refused"
        raise RuntimeError(f"{tool} wrote no report: see `{' '.join(command)}`")
    outcomes: Counter[str] = Counter()
    parts: dict[str, tuple[float, int]] = {}
    for line in report.read_text().splitlines():
        row = json.loads(line)
        outcomes[str(row["outcome"])] += 1
        outcomes["sop_uid_clash"] += int(bool(row.get("clash_with")))
        spent, count = parts.get(part(str(row["source"])), (0.0, 0))
        parts[part(str(row["source"]))] = (spent + float(row.get("seconds", 0.0)), count + 1)
    return Measure(tool, seconds, cpu, dict(outcomes), parts)


def run_peer(tool: str, list_file: Path, work: Path, workers: int) -> Measure:
    out = work / f"out-{tool}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "benchmarks.deid", "--child", tool]
    command += ["--list", str(list_file), "--out", str(out), "--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds, cpu, stdout = _timed(command, env)
    counts = json.loads(stdout.strip().splitlines()[-1])
    return Measure(tool, seconds, cpu, {"written": counts["ok"], "failed": counts["failed"]})


# -- the peers, in the child ---------------------------------------------------------------------
def _runner(tool: str) -> Callable[[Path, Path], None]:
    import pydicom

    if tool == "pydicom":

        def plain(src: Path, dst: Path) -> None:
            pydicom.dcmread(src).save_as(dst)

        return plain
    if tool == "dicognito":
        from dicognito.anonymizer import Anonymizer

        anonymizer = Anonymizer()

        def dicognito(src: Path, dst: Path) -> None:
            ds = pydicom.dcmread(src)
            anonymizer.anonymize(ds)
            ds.save_as(dst)

        return dicognito
    if tool == "dcmanon":
        from dcmanon import Anonymizer as DcmAnon

        rust = DcmAnon()

        def dcmanon(src: Path, dst: Path) -> None:
            dst.write_bytes(rust.anonymize(str(src)))

        return dcmanon
    raise SystemExit(f"unknown tool {tool}")


_RUN: dict[str, Callable[[Path, Path], None]] = {}


def _init_child(tool: str) -> None:
    warnings.simplefilter("ignore")
    _RUN["run"] = _runner(tool)


def _one(job: tuple[Path, Path]) -> bool:
    try:
        _RUN["run"](*job)
    except Exception:  # a peer refusing a file is a result, not a crash
        return False
    return True


def child(tool: str, list_file: Path, out_dir: Path, workers: int) -> None:
    from multiprocessing import Pool

    files = [Path(line) for line in list_file.read_text().splitlines() if line]
    jobs = [(src, out_dir / f"{n:05d}.dcm") for n, src in enumerate(files)]
    if workers <= 1:
        _init_child(tool)
        results = [_one(job) for job in jobs]
    else:
        pool = Pool(workers, initializer=_init_child, initargs=(tool,))
        results = list(pool.imap_unordered(_one, jobs, chunksize=4))
        pool.close()
        pool.join()  # so the workers' CPU time is counted in this process's children
    print(json.dumps({"ok": sum(results), "failed": len(results) - sum(results)}))


# -- the run -----------------------------------------------------------------------------------
def measure_all(
    corpus: Path, list_file: Path, work: Path, workers: int, repeat: int
) -> dict[str, Measure]:
    tools = list(CLI_TOOLS)
    for peer in PEERS:
        module = PEER_MODULE.get(peer)
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"skip {peer}: not installed (pip install -r requirements-bench.txt)")
            continue
        tools.append(peer)
    best: dict[str, Measure] = {}
    for _ in range(repeat):
        for tool in list(tools):
            try:
                if tool in CLI_TOOLS:
                    row = run_cli(tool, corpus, work, workers)
                else:
                    row = run_peer(tool, list_file, work, workers)
            except RuntimeError as exc:
                print(f"skip {tool}: {exc}")
                tools.remove(tool)
                best.pop(tool, None)
                continue
            previous = best.get(tool)
            if previous is None:
                best[tool] = row
                continue
            previous.cpu = min(previous.cpu, row.cpu)
            if row.seconds < previous.seconds:
                previous.seconds, previous.outcomes = row.seconds, row.outcomes
                previous.parts = row.parts
    return best


def print_table(rows: dict[str, Measure], total_bytes: int, files: int) -> None:
    mb = total_bytes / 1e6

    def ratio(tool: str, base: str, cpu: bool) -> str:
        if base not in rows:
            return "n/a"
        mine, theirs = rows[tool], rows[base]
        return f"{(theirs.cpu / mine.cpu) if cpu else (theirs.seconds / mine.seconds):.2f}"

    header = (
        f"{'tool':<14} {'seconds':>8} {'MB/s':>7} {'files/s':>8} {'x pydicom':>9} "
        f"{'x dicognito':>11} {'CPU MB/s':>9} {'CPU x pydicom':>13} {'CPU x dicognito':>15}  outcomes"
    )
    print(header)
    print("-" * len(header))
    for tool, r in rows.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()) if v)
        print(
            f"{tool:<14} {r.seconds:>8.2f} {mb / r.seconds:>7.1f} {files / r.seconds:>8.1f} "
            f"{ratio(tool, 'pydicom', False):>9} {ratio(tool, 'dicognito', False):>11} "
            f"{mb / max(r.cpu, 1e-9):>9.1f} {ratio(tool, 'pydicom', True):>13} "
            f"{ratio(tool, 'dicognito', True):>15}  {outcomes}"
        )


def print_parts(rows: dict[str, Measure]) -> None:
    """Where the CLI's time goes: mean worker ms per input, by part of the corpus."""
    tools = [t for t in CLI_TOOLS if t in rows]
    names = sorted({p for t in tools for p in rows[t].parts})
    if not names:
        return
    print("\nCLI worker time per input, by part of the corpus (ms, mean; from --report):")
    print(f"{'part':<22} {'inputs':>6} " + " ".join(f"{t:>14}" for t in tools))
    for name in names:
        count = max(rows[t].parts.get(name, (0.0, 0))[1] for t in tools)
        cells = []
        for t in tools:
            spent, n = rows[t].parts.get(name, (0.0, 0))
            cells.append(f"{1000 * spent / max(n, 1):>14.1f}")
        print(f"{name:<22} {count:>6} " + " ".join(cells))


def print_recall(files: list[Path]) -> None:
    """The pixel screen's recall against the OCR, from benchmarks/deid_screen.py."""
    try:
        module: Any = importlib.import_module("benchmarks.deid_screen")
        recall_report = module.recall_report
    except (ImportError, AttributeError):
        print("screen recall vs OCR: not available (benchmarks/deid_screen.py: recall_report)")
        return
    start = time.perf_counter()
    report = recall_report(files)
    misses = list(report.get("misses", []))
    print(
        f"screen recall vs OCR: {report['recall']:.3f} "
        f"({report['text_frames'] - len(misses)}/{report['text_frames']} frames where the OCR "
        f"reads text are sent to it, of {report['frames']} frames; "
        f"{time.perf_counter() - start:.0f} s)"
    )
    if "screen_kept" in report and "cleared_text_free" in report:
        text_free = report["frames"] - report["text_frames"]
        print(
            f"  the screen kept {report['screen_kept']} of {report['frames']} frames for the OCR "
            f"and cleared {report['cleared_text_free']} of {text_free} text-free frames"
        )
    if report.get("ocr_s"):
        print(
            f"  CPU: screened step {report.get('screened_s', 0.0):.1f} s vs whole-frame OCR "
            f"{report['ocr_s']:.1f} s on the same frames "
            f"({report.get('screened_s', 0.0) / report['ocr_s']:.2f}x)"
        )
    for miss in misses[:10]:
        print(f"  missed: {miss}")
    if len(misses) > 10:
        print(f"  ... and {len(misses) - 10} more")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--slices", type=int, default=16, help="slices per CT/MR series")
    parser.add_argument("--patients", type=int, default=4, help="synthetic studies with SRs")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-recall", action="store_true", help="skip the screen's recall")
    parser.add_argument("--child")
    parser.add_argument("--list", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.list, args.out, args.workers)
        return
    with tempfile.TemporaryDirectory(prefix="deid-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        files = build_corpus(corpus, args.slices, args.patients)
        list_file = work / "files.txt"
        list_file.write_text("\n".join(str(f) for f in files))
        total = sum(f.stat().st_size for f in files)
        kinds = Counter(f.relative_to(corpus).parts[0] for f in files)
        print(
            f"corpus: {len(files)} files, {total / 1e6:.1f} MB "
            f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
            f"workers: {args.workers} for every tool; cpus: {os.cpu_count()}; "
            f"load: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        rows = measure_all(corpus, list_file, work, args.workers, args.repeat)
        print_table(rows, total, len(files))
        print_parts(rows)
        if "cli" in rows and "dicognito" in rows:
            print(f"goal: cli (screening on) >= 3x dicognito: {ratio_text(rows, 'dicognito')}")
        if "cli" in rows:
            clean = rows["cli"].parts.get("CT/MR text-free", (0.0, 0))
            header = rows["cli"].parts.get("CT/MR flag NO", (0.0, 0))
            if clean[1] and header[1]:
                per_clean, per_header = clean[0] / clean[1], header[0] / header[1]
                print(
                    f"goal: text-free CT/MR within 2x of header-only: "
                    f"{per_clean / max(per_header, 1e-9):.1f}x ({1000 * per_clean:.1f} ms vs "
                    f"{1000 * per_header:.1f} ms a slice; header-only: the same kinds of "
                    f"slices with a trusted NO flag)"
                )
        if not args.no_recall:
            print_recall(files)


def ratio_text(rows: dict[str, Measure], base: str) -> str:
    return (
        f"{rows[base].seconds / rows['cli'].seconds:.2f}x wall, "
        f"{rows[base].cpu / rows['cli'].cpu:.2f}x CPU"
    )


if __name__ == "__main__":
    main()
